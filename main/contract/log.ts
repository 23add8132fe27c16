/**
 * Control API methods of the traffic log viewer (queries, export, statistics).
 * Kept apart from index.ts so the viewer's contract can grow on its own.
 */
export const logMethods = {} as const;
