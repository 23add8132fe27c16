/** The version of Gatehouse, as every part reports it. */
export const VERSION = '0.1.0';
