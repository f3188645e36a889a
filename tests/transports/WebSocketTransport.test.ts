import * as WebSocketTransport from "../../transports/WebSocketTransport.ts"
import { transportConformance } from "./conformance.ts"

transportConformance("WebSocketTransport over 127.0.0.1", () => WebSocketTransport.make(), () => "ws://127.0.0.1:0/mesh")
transportConformance("WebSocketTransport over [::1]", () => WebSocketTransport.make(), () => "ws://[::1]:0")
