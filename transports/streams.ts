/**
 * Streaming requests over a wire: the two halves every message transport (WebSocket, NATS) shares, so credit and
 * cancellation mean the same everywhere. The in-memory transport needs neither: its caller pulls the serving
 * side's stream directly: backpressure with no window at all, only the one item each stage on the way pulls ahead.
 *
 * Flow control is credit-based, as HTTP/2's and gRPC's windows are: the caller's `Invoke` carries `stream`, the
 * items it has room for; the serving side sends `StreamChunk`s only within the credit granted so far, and the
 * caller grants more (`StreamCredit`) as its consumer takes items, half a window at a time. A slow consumer
 * therefore holds at most one window of items, however fast the producer is, and the producer waits (its stream is
 * simply not pulled) instead of buffering. The stream ends with `StreamEnd`, or with a `Failure` carrying the typed
 * error. A consumer that stops early (`Stream.take`, a `break` out of `for await`, an interrupted fiber) sends
 * `Cancel`, and the serving side interrupts the producer.
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { type CrankError, crankError, isCrankError, messageOf } from "../capabilities/CrankError.ts"

/** Items a streaming call makes room for when the caller names no window. */
export const defaultStreamWindow = 64

/** The caller's end of one streaming request, fed by the connection as frames arrive. */
export interface StreamSink {
  readonly chunk: (items: ReadonlyArray<unknown>) => void
  readonly end: () => void
  readonly fail: (error: CrankError) => void
}

/** What the caller's half needs from its connection, for one request. */
export interface StreamWire {
  /** Registers `sink` under the request's id and sends the `Invoke`; an error when it cannot be sent. */
  readonly open: (sink: StreamSink) => CrankError | undefined
  /** Sends `StreamCredit` for `credit` more items. */
  readonly grant: (credit: number) => void
  /** Forgets the request and sends `Cancel`: the consumer stopped before the end. */
  readonly cancel: () => void
}

/**
 * The caller's half: a `Stream` of the request's items. Nothing is sent until it is run; a consumer that stops
 * early cancels the request; at most `window` items wait in memory for the consumer.
 */
export const receive = (window: number, wire: StreamWire): Stream.Stream<unknown, CrankError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      // The producer sends at most `window` items beyond what the consumer took, so offers never find it full.
      const queue = yield* Queue.bounded<unknown, CrankError | Cause.Done>(window)
      let finished = false
      const refused = wire.open({
        chunk: (items) => {
          if (finished) return
          // Room for a whole window is kept: a peer that sends past its credit breaks the protocol.
          if (Queue.offerAllUnsafe(queue, items).length > 0) {
            finished = true
            Queue.failCauseUnsafe(queue, Cause.fail(crankError("BAD_FRAME", `the peer sent more stream items than the ${window} granted`)))
            wire.cancel()
          }
        },
        end: () => {
          finished = true
          Queue.endUnsafe(queue)
        },
        fail: (error) => {
          finished = true
          Queue.failCauseUnsafe(queue, Cause.fail(error))
        },
      })
      if (refused !== undefined) return Stream.fail(refused)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (!finished) {
            finished = true
            wire.cancel()
          }
        }),
      )
      // Credit goes back as the consumer takes items, half a window at a time: few frames, and the producer
      // never waits for a whole window to drain.
      const batch = Math.max(1, Math.floor(window / 2))
      let taken = 0
      return Stream.fromQueue(queue).pipe(
        Stream.tap(() =>
          Effect.sync(() => {
            if (++taken >= batch && !finished) {
              wire.grant(taken)
              taken = 0
            }
          }),
        ),
      )
    }),
  )

/**
 * Items a serving side may still send: granted by the caller, taken by the sender. `take` waits while there is
 * none; `grant` comes from the connection's frame handler, outside any fiber.
 */
export class Credit {
  private waiting: Deferred.Deferred<void> | undefined
  constructor(private available: number) {}

  grant(credit: number): void {
    this.available += credit
    const waiting = this.waiting
    if (waiting !== undefined) {
      this.waiting = undefined
      Deferred.doneUnsafe(waiting, Exit.void)
    }
  }

  /** Up to `most` items' worth of credit, waiting until there is some. */
  take(most: number): Effect.Effect<number> {
    return Effect.suspend(() => {
      if (this.available > 0) {
        const taken = Math.min(most, this.available)
        this.available -= taken
        return Effect.succeed(taken)
      }
      const waiting = (this.waiting ??= Deferred.makeUnsafe<void>())
      return Effect.andThen(Deferred.await(waiting), this.take(most))
    })
  }
}

/** What the serving half sends, for one request. */
export interface StreamOutlet {
  readonly chunk: (items: ReadonlyArray<unknown>) => void
  readonly end: (count: number) => void
  readonly fail: (error: CrankError) => void
}

/**
 * The serving half: runs `items` out to the caller within `credit`, then ends it (`StreamEnd`) or fails it with its
 * typed error (a defect is `INTERNAL`). Interrupting it (the caller's `Cancel`, a closed connection) stops the
 * producer and sends nothing more.
 */
export const send = (items: Stream.Stream<unknown, CrankError>, credit: Credit, outlet: StreamOutlet): Effect.Effect<void> => {
  let count = 0
  return Stream.runForEachArray(items, (array) =>
    Effect.suspend(() => {
      let at = 0
      const next: Effect.Effect<void> = Effect.suspend(() =>
        at >= array.length
          ? Effect.void
          : Effect.flatMap(credit.take(array.length - at), (n) => {
              outlet.chunk(at === 0 && n === array.length ? array : array.slice(at, at + n))
              at += n
              count += n
              return next
            }),
      )
      return next
    }),
  ).pipe(
    Effect.matchCause({
      onSuccess: () => outlet.end(count),
      onFailure: (cause) => {
        if (Cause.hasInterruptsOnly(cause)) return
        outlet.fail(streamErrorOf(cause))
      },
    }),
  )
}

/** The typed error a failed stream ends with: its own `CrankError`, or `INTERNAL` for a defect. */
export const streamErrorOf = (cause: Cause.Cause<CrankError>): CrankError => {
  const error = Cause.squash(cause)
  return isCrankError(error) ? error : crankError("INTERNAL", `stream failed: ${messageOf(error)}`)
}
