"""Wall time, finish reason and citations of real SmolLM2 answers to grounded prompts (bounded generation).

Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/answer_bounds.py OUT.jsonl [MAX_TOKENS]

Six questions, each with two passages of about 900 characters cut from Debian documentation installed
on the machine (/usr/share/doc: postgresql-common, base-passwd, base-files), built into messages with
``rag.prompting.build_messages`` and answered by ``local/smollm2`` at temperature 0.1. Without
MAX_TOKENS the call uses the defaults of the code under test (``stream_chat``), so the same script
measures an older tree (``PYTHONPATH=<old tree>``) and this one. One JSON line per answer goes to
OUT.jsonl and, without the text, to stdout.
"""

import gzip
import json
import os
import re
import sys
import time

from rag.llm import stream_chat
from rag.prompting import PromptSource, build_messages, parse_citations

DOC = "/usr/share/doc"
CASES = [
    (
        "How do I create a database user for my Unix login?",
        f"{DOC}/postgresql-common/README.Debian.gz",
        ["First steps", "Cluster management"],
    ),
    (
        "What does pg_upgradecluster do?",
        f"{DOC}/postgresql-common/README.Debian.gz",
        ["Cluster management", "PostgreSQL for Debian"],
    ),
    (
        "What changed in pg_ctlcluster and the cluster defaults?",
        f"{DOC}/postgresql-common/NEWS.Debian.gz",
        ["postgresql-common (161)", "postgresql-common (158)"],
    ),
    (
        "Why can different PostgreSQL versions run at the same time?",
        f"{DOC}/postgresql-common/README.md.gz",
        ["Solving a problem", "It is possible to run"],
    ),
    (
        "What does update-passwd do?",
        f"{DOC}/base-passwd/README",
        ["base-passwd for Debian", "There are some exceptions"],
    ),
    (
        "Why does /etc/issue say trixie/sid?",
        f"{DOC}/base-files/README",
        ["Frequently Asked", 'Q. Why "trixie/sid"'],
    ),
]


def read(path):
    return (gzip.open(path, "rt") if path.endswith(".gz") else open(path)).read()


def passages(path, anchors, size=900):
    text = read(path)
    out = []
    for anchor in anchors:
        start = text.find(anchor)
        if start < 0:
            sys.exit(f"{anchor!r} not found in {path}: this Debian doc differs from the one measured")
        out.append(re.sub(r"[ \t]+", " ", text[start : start + size]))
    return out


def main():
    out_path = sys.argv[1]
    kwargs = {"max_tokens": int(sys.argv[2])} if len(sys.argv) > 2 else {}
    with open(out_path, "w") as out:
        for question, path, anchors in CASES:
            sources = [
                PromptSource(i, path.rsplit("/", 2)[1], "", text)
                for i, text in enumerate(passages(path, anchors), 1)
            ]
            started = time.perf_counter()
            stream = stream_chat(
                "local/smollm2", build_messages(question, sources), temperature=0.1, **kwargs
            )
            for _ in stream:
                pass
            row = {
                "question": question,
                "wall_s": round(time.perf_counter() - started, 1),
                "ttft_s": round((stream.ttft_ms or 0) / 1000, 1),
                "prompt_tokens": stream.prompt_tokens,
                "completion_tokens": stream.completion_tokens,
                "finish_reason": stream.finish_reason,
                "markup_echo": bool(re.search(r"</?source\b|<\w+[^>]*id=", stream.text)),
                "cited": list(parse_citations(stream.text, len(sources)).cited),
                "load": round(os.getloadavg()[0], 1),
                "text": stream.text,
            }
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(json.dumps({k: v for k, v in row.items() if k != "text"}), flush=True)


if __name__ == "__main__":
    main()
