// For profiling the FT hosts: `FTVM_HOST_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR --import
// ./tools/bench/profile-exit.mjs" ftvm ft ...`. The launcher ends a finished backup with
// SIGTERM, which would end it without writing its profile; this turns SIGTERM into an
// orderly exit, so --cpu-prof writes the profile of every host.
process.on("SIGTERM", () => process.exit(0));
