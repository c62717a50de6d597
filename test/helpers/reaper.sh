#!/usr/bin/env bash
# Undoes what a test process left behind when it died without cleaning up itself (the runner's
# timeout, Ctrl-C, kill -9). test/helpers/reaper.ts starts this script and writes one line per
# thing on its stdin; stdin closes when the test process is gone, for whatever reason, and then
# everything listed is undone. Things the test already cleaned up are gone: undoing them again
# changes nothing.
#   pid <pid> <start time>   a process (and everything below it); only if it is still that process
#   pm2 <home>               every process of the PM2 daemon with that PM2_HOME (daemon and apps)
#   user <name>              an OS user (userdel --remove)
#   path <path>              a file or directory; only absolute paths whose name contains "jaga"
pids=() homes=() users=() paths=()
while read -r kind value; do
  case $kind in
    pid) pids+=("$value") ;;
    pm2) homes+=("$value") ;;
    user) users+=("$value") ;;
    path) paths+=("$value") ;;
  esac
done

# Field 22 of /proc/<pid>/stat (start time): tells a process from a later one with a reused pid.
started() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  echo "${20}"
}
tree() {
  local c
  echo "$1"
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree "$c"; done
}

doomed=()
for entry in "${pids[@]}"; do
  read -r pid start <<<"$entry"
  [ "$(started "$pid")" = "$start" ] && mapfile -t -O "${#doomed[@]}" doomed < <(tree "$pid")
done
for home in "${homes[@]}"; do
  mapfile -t -O "${#doomed[@]}" doomed < <(grep -lzxF "PM2_HOME=$home" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
done
# Frozen first, so no parent gets to notice a child's death and start another.
[ ${#doomed[@]} -gt 0 ] && kill -STOP "${doomed[@]}" 2>/dev/null
[ ${#doomed[@]} -gt 0 ] && kill -KILL "${doomed[@]}" 2>/dev/null
for user in "${users[@]}"; do userdel --force --remove "$user" >/dev/null 2>&1; done
for path in "${paths[@]}"; do
  case $path in /*jaga*) rm -rf -- "$path" ;; esac
done
exit 0
