// How the page writes times and counts. Pure: no DOM (tests/unit/dashboardModel.test.ts checks it in Node).

const pad = (n, width = 2) => String(n).padStart(width, "0")
/** `12:00:01.234`, local time. */
export const clock = (ms) => {
  const d = new Date(ms)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}
/** An age as people read it: `1.5 s`, `42 s`, `3 min`, `5 h`, `2 d` (negative counts as 0). */
export const age = (ms) => {
  if (ms < 0) ms = 0
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 2 * 86_400_000) return `${Math.round(ms / 3_600_000)} h`
  return `${Math.round(ms / 86_400_000)} d`
}
export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`
