#!/bin/sh
# Where each echo server's CPU goes, by kind of work: perf samples of the
# server thread, sorted into the kernel's network and memory work (which
# both servers pay alike), the runtime's kernel interface (io_uring for
# corering; epoll for tokio; syscall entry and fd lookup for both), the
# scheduler, and user space.
#
# Usage: benches/tools/profile-echo.sh [CONNSxSIZE] [SECONDS]   (default 16x64 4)
# Needs perf (Debian's linux-perf) allowed to sample the kernel.
set -eu
cell=${1:-16x64}
secs=${2:-4}
bin=$(cargo bench --bench echo --no-run 2>&1 | grep -o 'target/release/deps/echo-[0-9a-f]*' | head -1)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for server in corering tokio; do
    perf record -q -F 2999 -o "$out/$server.data" -- \
        "$bin" --server "$server" --cell "$cell" --rounds 1 --secs "$secs" | grep 'round 0'
    perf report -i "$out/$server.data" --comm "$server-echo" --percentage relative \
        --no-children --sort sym --stdio -g none 2>/dev/null | python3 -c '
import re, sys
kinds = {}
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    share, space, sym = float(m.group(1)), m.group(2), m.group(3).strip()
    if space == ".":
        kind = "user space"
    elif "io_uring" in sym or re.match(r"(__)?io_", sym):
        kind = "io_uring"
    elif re.search(r"epoll|^ep_|sock_poll|tcp_poll", sym):
        kind = "epoll"
    elif re.search(r"syscall|entry_SYSCALL|_sys_|fdget|fget|fput|sockfd_lookup|exit_to_user", sym):
        kind = "syscall entry, fd lookup"
    elif re.search(r"schedule|switch|idle|halt|wake|enqueue|dequeue|pick_next|update_curr|hrtimer", sym):
        kind = "scheduler"
    else:
        kind = "network, memory (shared)"
    kinds[kind] = kinds.get(kind, 0) + share
for kind, share in sorted(kinds.items(), key=lambda kv: -kv[1]):
    print(f"    {kind:26s} {share:6.2f}%")
'
done
