/**
 * Note ids: ULIDs (https://github.com/ulid/spec), 26 Crockford base32 characters: 48 bits of milliseconds then 80
 * random bits. Two worker processes writing one database file make ids with no coordination, so uniqueness rests on
 * the random part (a clash needs two ids in the same millisecond with the same 80 bits), and ids sort by creation time.
 */
import { randomBytes } from "node:crypto"

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/** What a note id looks like: the schema checks ids against it, so a malformed id is bad input, not a missing note. */
export const noteIdPattern = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/

/** A new id for a note made at `timeMs` (Unix milliseconds). */
export const makeNoteId = (timeMs: number): string => {
  let time = ""
  let rest = Math.floor(timeMs)
  for (let i = 0; i < 10; i++) {
    time = alphabet[rest % 32] + time
    rest = Math.floor(rest / 32)
  }
  // 80 random bits: 16 characters of 5 bits each, read from 10 bytes.
  const bytes = randomBytes(10)
  let random = ""
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      random += alphabet[(buffer >> bits) & 31]
    }
    buffer &= (1 << bits) - 1
  }
  return time + random
}
