/** The names of the CA's files in its directory: here, apart from CertificateAuthority.ts, so that code which only
 * looks for a CA (is there one beside this command?) does not load the x509 library. */
export const caKeyFile = "ca.key.pem"
export const caCertificateFile = "ca.crt.pem"
