# shellcheck shell=bash
# Shared helpers for infra/services.sh: logging, pidfiles, waiting, stopping, installing.
# Sourced, not executed. Progress goes to stderr so that stdout carries only the
# `export ...` lines (usable as: eval "$(bash infra/services.sh up)").

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

now_ms() { date +%s%3N; }
# since_ms START_MS -> "1.234s"
since_ms() { local d=$(( $(now_ms) - $1 )); printf '%d.%03ds' $((d / 1000)) $((d % 1000)); }

# Pid from a pidfile (first line), empty when missing or not a number.
read_pid() {
  local f=$1 pid=""
  if [[ -r $f ]]; then read -r pid < "$f" || true; fi
  if [[ $pid =~ ^[0-9]+$ ]]; then echo "$pid"; fi
}

# Process state letter from /proc (R, S, D, T = stopped/paused, Z = zombie ...), empty if gone.
proc_state() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }          # the comm field may contain spaces; the state follows ") "
  echo "${stat%% *}"
}

# True when the pid exists and is not a zombie (PID 1 of a container may not reap orphans).
# A multi-threaded process (the JVM) whose main thread is already a zombie counts as alive
# while other threads still exit: it may still hold its listening sockets.
pid_alive() {
  local s tasks
  [[ -n ${1:-} ]] || return 1
  s=$(proc_state "$1")
  [[ -n $s ]] || return 1
  [[ $s != Z && $s != X ]] && return 0
  tasks=$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  (( tasks > 1 ))
}

# port_free_or_die SERVICE PORT KNOB: fail when something else listens on 127.0.0.1:PORT
# (waiting a few seconds first: a process that was just killed may still be closing it).
port_free_or_die() {
  wait_for 5 eval "! port_open $2" ||
    die "$1: port 127.0.0.1:$2 is already used by another process (set $3)"
}

# True when pid is alive and belongs to service directory DIR: its working directory
# is DIR (or below) or its command line mentions DIR. Guards against pid reuse and
# against touching another clone's services.
pid_owned() {
  local pid=$1 dir=$2 cwd cmd
  pid_alive "$pid" || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
  [[ $cwd == "$dir" || $cwd == "$dir"/* ]] && return 0
  cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $cmd == *"$dir/"* || $cmd == *"$dir "* ]]
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_for TIMEOUT_S CMD... : polls CMD every 0.2 s; fails after TIMEOUT_S seconds.
wait_for() {
  local timeout=$1; shift
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  until "$@"; do
    (( $(now_ms) < deadline )) || return 1
    sleep 0.2
  done
}

# Print the last lines of log files (for failures).
show_tail() {
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    printf '[services] ---- last lines of %s ----\n' "$f" >&2
    tail -n 30 "$f" >&2
  done
}

# stop_pid NAME PID FIRST_SIGNAL [TIMEOUT_S] : FIRST_SIGNAL, wait, then SIGKILL.
# A paused (SIGSTOP) process is continued first, otherwise it could not handle the signal.
stop_pid() {
  local name=$1 pid=$2 sig=$3 timeout=${4:-30} t0
  pid_alive "$pid" || return 0
  t0=$(now_ms)
  kill -CONT "$pid" 2>/dev/null || true
  kill "-$sig" "$pid" 2>/dev/null || true
  if wait_for "$timeout" eval "! pid_alive $pid"; then
    log "$name: stopped (pid $pid, SIG$sig) in $(since_ms "$t0")"
    return 0
  fi
  log "$name: still running after ${timeout}s, sending SIGKILL to pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
  wait_for 10 eval "! pid_alive $pid" || log "$name: WARNING pid $pid did not exit after SIGKILL"
}

# A lock file shared by every clone (jar cache, apt); CACHE_ROOT is set by services.sh.
# with_global_lock NAME CMD... runs CMD while holding $CACHE_ROOT/NAME.lock.
with_global_lock() {
  local name=$1; shift
  mkdir -p "$CACHE_ROOT"
  (
    exec 8> "$CACHE_ROOT/$name.lock"
    flock -w 900 8 || die "timed out waiting for lock $CACHE_ROOT/$name.lock"
    "$@"
  )
}

_apt_install() {
  # Keep package maintainer scripts from starting system-wide daemons (e.g. a redis on
  # 6379) when no policy-rc.d exists yet; the services here are started by this script.
  local added_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  local rc=0
  {
    apt-get update -q >&2 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
  } || rc=$?
  (( added_policy == 0 )) || rm -f /usr/sbin/policy-rc.d
  return "$rc"
}

# apt_install PKG... : install Debian packages (root only), serialised across clones.
apt_install() {
  [[ $(id -u) == 0 ]] || die "need root to apt-get install $*"
  log "installing Debian packages: $* (apt-get)"
  with_global_lock apt _apt_install "$@" || die "apt-get install $* failed"
}

# ensure_cmd COMMAND PACKAGE... : install PACKAGE(s) when COMMAND is not on PATH.
ensure_cmd() {
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  apt_install "$@"
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing $*"
}
