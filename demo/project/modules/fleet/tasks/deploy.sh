#!/bin/sh
# Progress over time on stdout, warnings on stderr, ANSI colours as real tools print them.
steps=${PT_steps:-8}
printf '\033[1mDeploying %s\033[0m\n' "${PT_version:-?}"
i=1
while [ "$i" -le "$steps" ]; do
  sleep 0.4
  printf '\033[32m[%d/%d]\033[0m step %d done\n' "$i" "$steps" "$i"
  if [ $((i % 3)) -eq 0 ]; then echo "warning: step $i was slow" >&2; fi
  i=$((i + 1))
done
if [ "${PT_fail:-false}" = "true" ]; then
  printf '\033[31mdeploy failed\033[0m\n' >&2
  exit 1
fi
printf '\033[1;32mdeployed %s\033[0m\n' "${PT_version:-?}"
