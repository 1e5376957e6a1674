// Shared modules read settings from process.env (Node); in the page there are none. Deliberately
// without `versions`, so Node detection (tfjs, emscripten) stays false.
export const process = { env: {} };
