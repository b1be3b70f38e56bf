#!/bin/bash
# Every C file of the project follows .clang-format.  Run from the source root.
set -u
if ! command -v clang-format >/dev/null; then
	echo "clang-format is not installed (tools/setup.sh installs it)"
	exit 1
fi
if git rev-parse --git-dir >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.c' '*.h')
else
	mapfile -t files < <(find src guest tests tools include -name '*.[ch]')
fi
clang-format --dry-run --Werror "${files[@]}" || {
	echo "run: clang-format -i <file> (the list above)"
	exit 1
}
echo "${#files[@]} files follow .clang-format"
