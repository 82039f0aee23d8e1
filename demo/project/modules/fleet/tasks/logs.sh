#!/bin/sh
n=${PT_lines:-2000}
awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "%06d %s GET /api/item/%d 200 %dms\n", i, (i % 7 == 0 ? "\033[33mWARN\033[0m" : "INFO"), i, i % 97 }'
