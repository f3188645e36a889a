/**
 * The hello worker: `hello.greet@1.0.0` in a few lines of business logic.
 * Run it alone with `npx crank worker examples/hello --controller ws://127.0.0.1:7070`.
 */
import { defineWorker, implement } from "crank-mesh"
import { HelloGreet } from "./capability.ts"

export const greet = implement(HelloGreet, ({ message, options = {} }, { workerId }) => {
  let greeting = `Hello, ${message}`
  if (options.uppercase) greeting = greeting.toUpperCase()
  if (options.reverse) greeting = [...greeting].reverse().join("")
  greeting += "!".repeat(options.exclamations ?? 0)
  return { greeting, worker: workerId }
})

export default defineWorker({ name: "hello", implements: [greet] })
