// Node (V8) options the daemon runs with, whichever way it is started (`sd start`, the
// foreground, a systemd unit or a launchd agent). `--single-threaded-gc`: V8 collects on the main
// thread only, without its parallel and concurrent helper threads. On a machine whose cores are
// busy (two cores shared with other work) the helpers wait for each other and for a core: pulling
// 1 GiB at load average 8-9, the two daemons used 8.2 + 10.7 and 8.6 + 11.7 CPU seconds with the
// default, 3.6 + 6.4 and 3.3 + 5.3 with this flag, back to back (bench/transfer.ts). A daemon
// is a background process next to the user's own work: it should not compete for every core.
// `--max-semi-space-size=8`: V8's young generation grows to two semi-spaces of 8 MiB, not 16, in
// the main thread and in each worker. In the load bench (a 100,000-file index, 50 clients' queries
// and a peer replicating), the daemon's peak was 237-314 MiB with 16 (six runs) and 230-247 MiB
// with 8 (three runs), its anonymous memory 163-186 MiB against 116-141; the index's CPU was the
// same (4.33-4.54 s against 4.14-4.55 s).
export const DAEMON_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--max-semi-space-size=8'];

/**
 * The environment a launcher gives the daemon: glibc reads MALLOC_ARENA_MAX at start only, so it
 * is set for the process, not from inside it. Two arenas instead of one per thread (up to 8 per
 * core): a daemon after a day's work on 100,000 files held 20 MB less, trimmed or not; a user's
 * own setting wins.
 */
export function daemonEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2' };
}
