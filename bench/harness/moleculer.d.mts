/** Types of ./moleculer.mjs, for the TypeScript side of the bench. */
import type { ServiceBroker, ServiceSchema } from "moleculer"

export declare const greetService: ServiceSchema
export declare const makeBroker: (nodeID: string, tcp?: { readonly port: number; readonly peers: Readonly<Record<string, number>> }) => ServiceBroker
