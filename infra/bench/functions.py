"""Lists the function binaries of the workspace for the bench scripts.

Reads `cargo metadata --no-deps` JSON on stdin; prints the target directory on
the first line, then one line per binary of every package under functions/:
    <function dir name> TAB <package> TAB <binary name>
"""
import json
import os
import sys

root = os.path.realpath(sys.argv[1])
functions = os.path.join(root, "functions") + os.sep
meta = json.load(sys.stdin)
print(meta["target_directory"])
for pkg in sorted(meta["packages"], key=lambda p: p["name"]):
    manifest = os.path.realpath(pkg["manifest_path"])
    if not manifest.startswith(functions):
        continue
    fn_dir = os.path.relpath(os.path.dirname(manifest), functions).split(os.sep)[0]
    for target in pkg["targets"]:
        if "bin" in target["kind"]:
            print(f"{fn_dir}\t{pkg['name']}\t{target['name']}")
