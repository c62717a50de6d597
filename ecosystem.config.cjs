// Running Jaga itself under PM2, done the way the incident reports wish it had been
// (report 003: 183 restarts, no graceful shutdown, EADDRINUSE fights):
//   pm2 start ecosystem.config.cjs && pm2 save
module.exports = {
  apps: [
    {
      name: "jaga",
      script: "dist/src/cli.js",
      args: "start",
      cwd: __dirname,
      // One process: Jaga owns one WhatsApp socket; two instances would fight over the session (440).
      exec_mode: "fork",
      instances: 1,
      // The memory settings of `npm start` and deploy/jaga.service (README, "Memory"; bench:memory
      // measured them): a young generation of 1 MB, V8 tuned for size with one helper thread and
      // no optimizing compiler, glibc with two malloc arenas. test/deps.test.ts keeps the three alike.
      node_args: ["--max-semi-space-size=1", "--optimize-for-size", "--v8-pool-size=1", "--no-opt", "--max-lazy"],
      env: { NODE_ENV: "production", JAGA_TRANSPORT: "whatsapp", MALLOC_ARENA_MAX: "2" },
      // Jaga stops cleanly on SIGINT within `shutdown.budget` (default 10 s): running commands
      // finish or are aborted, the outbox flushes, SSH closes, and it exits 0 by itself. This must
      // stay above the budget (budget + 5 s) so PM2 never SIGKILLs a stop that is still flushing.
      kill_timeout: 15000,
      // A crash loop backs off (100 ms doubling to 15 s) instead of spinning at 100 % CPU.
      exp_backoff_restart_delay: 100,
      max_restarts: 50,
      min_uptime: "30s",
      // A leak on a 2 GB set-top box is a restart, not a frozen box.
      max_memory_restart: "300M",
      time: true,
      merge_logs: true,
    },
  ],
};
