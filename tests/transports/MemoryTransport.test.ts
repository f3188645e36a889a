import * as MemoryTransport from "../../transports/MemoryTransport.ts"
import { transportConformance } from "./conformance.ts"

transportConformance(
  "MemoryTransport",
  () => MemoryTransport.make(),
  () => "memory://",
)
