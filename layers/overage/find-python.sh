#!/bin/sh
# Prints the path of a Python of version $1 (e.g. 3.13): `python3.13` on PATH, else one under pyenv (whose shim
# only runs the versions it is told to). Exits 1, printing nothing, when none runs.
# It prints the interpreter itself (sys.executable), never a pyenv shim: a shim picks its version from the current
# folder's .python-version, so the same shim may run another Python, or none, from another folder.
version=$1
for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
    found=$("$candidate" -c 'import sys; print("%d.%d %s" % (sys.version_info[0], sys.version_info[1], sys.executable))' 2>/dev/null) || continue
    if [ "${found%% *}" = "$version" ]; then
        echo "${found#* }"
        exit 0
    fi
done
exit 1
