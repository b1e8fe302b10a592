#!/usr/bin/env python3
"""Where a TornadoVM run's device time goes, by kernel: reads the JSON records that TornadoVM's profiler appends to a
file (java -Dtornado.profiler=True -Dtornado.log.profiler=True -Dtornado.profiler.dump.dir=FILE ...) and prints a
Markdown table of kernel time per kernel method, its share, and the number of launches.

    python3 tornado-tasks/scripts/profile-summary.py FILE [--per N]    (--per N: also ms per N-th, e.g. per step)"""
import argparse
import collections
import json
import re


def records(text):
    text = re.sub(r",(\s*})", r"\1", text)  # TornadoVM leaves a trailing comma in some records
    decoder, i = json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text):
            return
        record, i = decoder.raw_decode(text, i)
        yield record


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--per", type=int, default=0, help="divide times by this (e.g. the number of steps profiled)")
    args = ap.parse_args()
    kernel_ns, launches = collections.Counter(), collections.Counter()
    graph_ns = copy_ns = 0
    executions = 0
    with open(args.file) as f:
        for record in records(f.read()):
            for graph in record.values():
                executions += 1
                graph_ns += int(graph.get("TOTAL_TASK_GRAPH_TIME", 0))
                copy_ns += int(graph.get("COPY_IN_TIME", 0)) + int(graph.get("COPY_OUT_TIME", 0))
                for task in graph.values():
                    if isinstance(task, dict) and "TASK_KERNEL_TIME" in task:
                        method = task.get("METHOD", "?")
                        kernel_ns[method] += int(task["TASK_KERNEL_TIME"])
                        launches[method] += 1
    total = sum(kernel_ns.values())
    per = args.per or 1
    print(f"{executions} graph executions; task-graph time {graph_ns / 1e6 / per:.1f} ms, kernels "
          f"{total / 1e6 / per:.1f} ms, copies {copy_ns / 1e6 / per:.1f} ms" + (f" (per {per}-th)" if args.per else ""))
    print()
    print("| kernel | ms" + (" per step" if args.per else "") + " | share | launches |")
    print("| --- | --- | --- | --- |")
    for method, ns in kernel_ns.most_common():
        print(f"| {method} | {ns / 1e6 / per:.2f} | {100 * ns / total:.1f} % | {launches[method]} |")


if __name__ == "__main__":
    main()
