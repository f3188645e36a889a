/** The types of format.js (the page ships as plain JavaScript; see model.d.ts). */
export declare const clock: (ms: number) => string
export declare const age: (ms: number) => string
export declare const plural: (n: number, word: string) => string
