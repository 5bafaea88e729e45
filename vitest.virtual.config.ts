/**
 * The virtual-time suite on its own (`npm run test:virtual`): the test kit, the client and
 * Batch over the simulated transport, and the testing guide's examples. Nothing here opens a
 * socket or spawns a process, so there is no build step (the main config's globalSetup
 * rebuilds dist/ for the process tests), and every file runs in one worker that imports
 * Effect, the client and the kit once (`isolate: false`) instead of once per file: loading
 * those modules, not the tests, was most of the wall time. The files share no module state
 * (each test builds its own layer, TestClock and routes), so sharing the worker changes
 * nothing they check. `npm test` still runs these files too, isolated, with everything else.
 */
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/virtual/**/*.test.ts", "test/testing*.test.ts", "test/docs-testing.test.ts"],
    pool: "threads",
    isolate: false,
    fileParallelism: false,
    testTimeout: 30_000,
    sequence: { concurrent: false }
  }
})
