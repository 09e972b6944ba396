#!/usr/bin/env python3
"""Which DynamoDB actions each function's code can reach, read from the Rust source.

The IAM policy of every function in template.yaml must grant exactly these (check_template.py
compares them). How it reads the code:

1. `shared/src/adapters/dynamo/*.rs`: for every method of a port trait implemented on
   DynamoStore, the SDK calls it makes, itself or through DynamoStore's own helpers
   (`.get_item()` GetItem, `.query()` Query, `Put::builder` inside a transaction PutItem,
   `ConditionCheck::builder` ConditionCheckItem, ...), and whether a query names an index.
   IAM has no TransactWriteItems action: a transaction needs the action of each of its items.
2. `functions/<binary>/src/*.rs` (lib.rs and the route modules it keeps apart; not tests.rs):
   the use cases it calls, followed through `shared/src/app/`
   (calls between use cases, `use` imports), collecting the port methods they call by name.
   A method name shared by two traits counts for both (an over-approximation, never an
   omission).

Usage: dynamo_actions.py [repo root]   prints binary: actions (and "index" when it queries one)
"""

import functools
import glob
import os
import re
import sys

SDK_CALLS = {
    r"\.get_item\(\)": "GetItem",
    r"\.put_item\(\)": "PutItem",
    r"\.update_item\(\)": "UpdateItem",
    r"\.delete_item\(\)": "DeleteItem",
    r"\.query\(\)": "Query",
    r"\.batch_get_item\(\)": "BatchGetItem",
    r"\.batch_write_item\(\)": "BatchWriteItem",
    r"\.scan\(\)": "Scan",
    r"\.transact_get_items\(\)": "GetItem",
    r"\bPut::builder\(": "PutItem",
    r"\bUpdate::builder\(": "UpdateItem",
    r"\bDelete::builder\(": "DeleteItem",
    r"\bConditionCheck::builder\(": "ConditionCheckItem",
}
INDEX = r"index_name\("
CALL = r"(?<![\w])(\w+)(?:::<[^()]*>)?\("
METHOD = r"\.(\w+)(?:::<[^()]*>)?\("


def _without_tests(text):
    return text.split("#[cfg(test)]")[0]


def _block(text, start):
    """The {...} block starting at the first brace at or after start."""
    i = text.index("{", start)
    depth, j = 1, i + 1
    while depth and j < len(text):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    return text[i:j]


def _functions(text, indent=r"\s*"):
    out = {}
    for m in re.finditer(r"^" + indent + r"(?:pub(?:\([a-z]+\))? )?(?:async )?fn (\w+)", text, re.M):
        try:
            out[m.group(1)] = out.get(m.group(1), "") + _block(text, m.end())
        except ValueError:
            pass
    return out


def port_methods(root):
    """{method name: set of actions (+ "index")} for the port traits DynamoStore implements."""
    helpers, methods = {}, {}
    for path in sorted(glob.glob(os.path.join(root, "shared/src/adapters/dynamo/*.rs"))):
        with open(path, encoding="utf-8") as f:
            text = _without_tests(f.read())
        for m in re.finditer(r"^impl(?:<[^>]*>)? (?:(\w+) for )?DynamoStore \{", text, re.M):
            body = _block(text, m.start())
            for name, fbody in _functions(body, "    ").items():
                target = helpers if m.group(1) is None else methods
                target[name] = target.get(name, "") + fbody

    def reach(body, seen):
        found = {a for pattern, a in SDK_CALLS.items() if re.search(pattern, body)}
        if re.search(INDEX, body):
            found.add("index")
        for name in set(re.findall(CALL, body)) | set(re.findall(METHOD, body)):
            if name in helpers and name not in seen:
                seen.add(name)
                found |= reach(helpers[name], seen)
        return found

    out = {name: reach(body, set()) for name, body in methods.items()}
    # A port method implemented by calling another port method (record_event -> record_events).
    for _ in range(3):
        for name, body in methods.items():
            for other in set(re.findall(METHOD, body)):
                if other in out and other != name:
                    out[name] |= out[other]
    return out


@functools.lru_cache(maxsize=None)
def derive(root):
    """{binary: set of actions (+ "index")} for every functions/<binary>/src/ (lib.rs and its modules)."""
    ports = port_methods(root)
    app, imports = {}, {}
    for path in glob.glob(os.path.join(root, "shared/src/app/*.rs")) + [os.path.join(root, "shared/src/batch.rs")]:
        if not os.path.exists(path):
            continue
        mod = os.path.basename(path)[:-3]
        with open(path, encoding="utf-8") as f:
            text = _without_tests(f.read())
        for name, body in _functions(text).items():
            app[(mod, name)] = body
        for other, names in re.findall(r"use (?:super|crate::app)::(\w+)::\{([^}]*)\}", text):
            for n in re.findall(r"\w+", names):
                imports[(mod, n)] = (other, n)
        for other, n in re.findall(r"use (?:super|crate::app)::(\w+)::(\w+);", text):
            imports[(mod, n)] = (other, n)

    def calls(body, mod, aliases):
        found, used = set(), set()
        for q, n in re.findall(r"\b(\w+)::(\w+)(?:::<[^()]*>)?\(", body):
            q = aliases.get(q, q)
            if (q, n) in app:
                found.add((q, n))
        for n in re.findall(CALL, body):
            for key in ((mod, n), imports.get((mod, n))):
                if key in app:
                    found.add(key)
        for n in re.findall(METHOD, body):
            if n in ports:
                used.add(n)
        return found, used

    out = {}
    for lib in sorted(glob.glob(os.path.join(root, "functions/*/src/lib.rs"))):
        binary = lib.split(os.sep)[-3]
        text = ""
        for source in sorted(glob.glob(os.path.join(os.path.dirname(lib), "*.rs"))):
            if os.path.basename(source) == "tests.rs":
                continue
            with open(source, encoding="utf-8") as f:
                text += _without_tests(f.read()) + "\n"
        aliases = {alias: mod for mod, alias in re.findall(r"app::(\w+)(?:::\{[^}]*\})? as (\w+)", text)}
        aliases.update({alias: mod for mod, alias in re.findall(r"app::(\w+)::\{?self as (\w+)", text)})
        for mod, names in re.findall(r"app::(\w+)::\{([^}]*)\}", text):
            for n in re.findall(r"\w+", names):
                if (mod, n) in app:
                    imports[("?", n)] = (mod, n)
        todo, used = calls(text, "?", aliases)
        todo, seen = list(todo), set(todo)
        while todo:
            key = todo.pop()
            found, more = calls(app[key], key[0], {})
            used |= more
            for k in found - seen:
                seen.add(k)
                todo.append(k)
        actions = set()
        for method in used:
            actions |= ports[method]
        out[binary] = actions
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    for binary, actions in sorted(derive(root).items()):
        index = " (+ Query on indexes)" if "index" in actions else ""
        print(f"{binary}: {', '.join(sorted(actions - {'index'})) or '-'}{index}")


if __name__ == "__main__":
    main()
