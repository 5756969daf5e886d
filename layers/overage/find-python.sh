#!/bin/sh
# Prints the path of a Python of version $1 (e.g. 3.13): `python3.13` on PATH, else one under pyenv (whose shim
# only runs the versions it is told to). Exits 1, printing nothing, when none runs.
version=$1
for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    found=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    if [ "$found" = "$version" ]; then
        command -v "$candidate"
        exit 0
    fi
done
exit 1
