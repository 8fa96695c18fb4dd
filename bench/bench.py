#!/usr/bin/env python3
"""Helpers of bench/run: the Zipf trace, the hit-ratio simulations and the report.

  bench.py trace  --blocks N --reads R --skew S --seed X --file PATH --out TRACE
      Writes R block numbers drawn from a Zipf(S) distribution over N blocks
      (rank i has probability proportional to 1/i^S; ranks are scattered over
      the file by a seeded permutation) to TRACE.blocks, one per line, and
      the same reads as a fio iolog (version 2) to TRACE.iolog.

  bench.py simulate --trace TRACE.blocks --capacity-blocks C
      Prints JSON: the hit ratio of an LRU cache of C blocks and of Belady's
      optimum (evict the block whose next use is furthest away) on the trace.

  bench.py hitratio --trace TRACE --skew S --capacity-blocks C --buckets B
                    --bucket-blocks K [POLICY:HITS:MISSES:PROMOTIONS:SKIPPED...]
      Writes TRACE.json: simulate's figures, a model of the cache's allocator
      on the trace (B buckets of K blocks; see allocator_model) and the
      hit ratio measured with each promotion policy.

  bench.py summary FIO_JSON JOB
      Prints one line: the job's IOPS (or MB/s), p50 and p99 completion latency.

  bench.py report --out DIR
      Reads DIR/rows.tsv (row, job, fio JSON or "-", note), DIR/hitratio/*.json
      and DIR/meta.json, writes DIR/results.json, DIR/results.png (gnuplot)
      and prints the table; with DIR/warm.tsv (row, job, round, fio JSON or
      "-", hits, misses, note), the warm comparison of the FUSE floor and
      bcachefs-lite: per-round ratios, their medians and the hit ratio; with DIR/memory/bench_memory.json (or error.txt)
      from the memory run, results.json gets a "memory" entry and the table
      the RSS figures against their target.
"""
import argparse
import bisect
import heapq
import json
import math
import os
import random
import subprocess
import sys
from collections import OrderedDict, deque

BLOCK = 4096

# The jobs, in the order of the table: (name, metric, kind).
JOBS = [
    ("randread-4k-qd1", "IOPS", "read"),
    ("randread-4k-qd16", "IOPS", "read"),
    ("seqread-1m", "MB/s", "read"),
    ("randwrite-4k", "IOPS", "write"),
    ("mixed-70-30", "IOPS", "write"),
]
JOB_METRIC = {name: metric for name, metric, _ in JOBS}
JOB_KIND = {name: kind for name, _, kind in JOBS}


# ---------------------------------------------------------------- trace
def cmd_trace(a):
    rng = random.Random(a.seed)
    n = a.blocks
    weights = [1.0 / math.pow(i, a.skew) for i in range(1, n + 1)]
    cdf, total = [], 0.0
    for w in weights:
        total += w
        cdf.append(total)
    perm = list(range(n))
    rng.shuffle(perm)  # rank -> block: the hot blocks are spread over the file
    blocks = []
    for _ in range(a.reads):
        rank = bisect.bisect_left(cdf, rng.random() * total)
        blocks.append(perm[min(rank, n - 1)])
    with open(a.out + ".blocks", "w") as f:
        f.write("\n".join(map(str, blocks)) + "\n")
    with open(a.out + ".iolog", "w") as f:
        f.write("fio version 2 iolog\n")
        f.write(f"{a.file} add\n{a.file} open\n")
        for b in blocks:
            f.write(f"{a.file} read {b * BLOCK} {BLOCK}\n")
        f.write(f"{a.file} close\n")
    print(json.dumps({"reads": len(blocks), "distinct_blocks": len(set(blocks))}))


# ---------------------------------------------------------------- simulations
def lru_hits(trace, cap):
    cache, hits = OrderedDict(), 0
    for b in trace:
        if b in cache:
            hits += 1
            cache.move_to_end(b)
        else:
            cache[b] = True
            if len(cache) > cap:
                cache.popitem(last=False)
    return hits


def belady_hits(trace, cap):
    n = len(trace)
    nxt, last = [n] * n, {}
    for i in range(n - 1, -1, -1):
        nxt[i] = last.get(trace[i], n + i)  # never used again: furthest, distinct keys
        last[trace[i]] = i
    cached = {}  # block -> its next use
    heap = []    # (-next use, block), lazily invalidated
    hits = 0
    for i, b in enumerate(trace):
        if b in cached:
            hits += 1
        elif len(cached) >= cap:
            while True:
                negnext, victim = heapq.heappop(heap)
                if cached.get(victim) == -negnext:
                    del cached[victim]
                    break
        cached[b] = nxt[i]
        heapq.heappush(heap, (-nxt[i], b))
    return hits


def simulate(trace_path, cap):
    with open(trace_path) as f:
        trace = [int(x) for x in f if x.strip()]
    n = len(trace)
    return {
        "reads": n,
        "distinct_blocks": len(set(trace)),
        "capacity_blocks": cap,
        "lru_hit_ratio": lru_hits(trace, cap) / n if n else 0.0,
        "belady_hit_ratio": belady_hits(trace, cap) / n if n else 0.0,
    }


def cmd_simulate(a):
    print(json.dumps(simulate(a.trace, a.capacity_blocks)))


# ---------------------------------------------------------------- allocator model
# Not a yardstick like LRU and Belady: a model of what the cache's allocator
# does with the same trace, to tell where its hit ratio goes. The cache fills
# whole buckets of bucket_blocks blocks, in miss order, through one open
# bucket (one file: one write point), and reuses the bucket whose last hit
# (or whose closing) is oldest, empty buckets first (bcache's LRU by prio,
# which a hit raises and aging lowers alike for all). Reusing a bucket drops
# all its blocks. bcache's freelists keep buckets for reuse besides:
# free[none] and free[movinggc] ("free" buckets each, kept full, movinggc
# first; once it is full, a new bucket takes the place of the reserve's
# oldest, which moves on to free[none]) and free_inc (free * 4), refilled all
# at once, by invalidating buckets, each time it runs empty. Buckets are
# handed out in the order they were invalidated. A bucket waiting on them keeps serving
# the blocks it held until it is handed out for writing (or discarded, with
# discard on: on its way to a freelist); old_gen_reads=False models the
# earlier rule, under which invalidation made them unreadable at once.
def freelist_sizes(device_buckets):
    """bcache's sizes as the allocator takes them: (free, free_inc)."""
    free = max((1 << max(device_buckets - 1, 0).bit_length()) >> 10, 4)  # kMinFree = 4
    return free, free << 2


def allocator_model_hits(trace, nbuckets, bucket_blocks, free=0, free_inc=0, movinggc=False,
                         old_gen_reads=True, discard=False, rotate=True):
    """Hits of the model; free=free_inc=0 is bucket-granular LRU with no
    freelists: a bucket is emptied only when a fresh one is needed.
    rotate=False keeps the reserve's buckets for ever (bcache's push)."""
    last = [0] * nbuckets      # when it was last hit, or closed
    holds = [False] * nbuckets  # holds data (that may still be read)
    gen = [0] * nbuckets        # the bucket's gen (the durable one)
    read_gen = [0] * nbuckets   # the gen reads match: gen, or the old one while it waits
    idle = set(range(nbuckets))  # neither open nor on a list: may be reused
    where = {}                   # block -> (bucket, gen)
    free_inc_q, free_none, reserve = deque(), deque(), []
    clock, hits, open_b, fill = 0, 0, None, 0

    def invalidate(n):
        for b in sorted(idle, key=lambda b: (holds[b], last[b], b))[:n]:
            idle.discard(b)
            gen[b] += 1
            holds[b] = False
            if not old_gen_reads:
                read_gen[b] = gen[b]
            yield b

    def push(b):
        if discard:
            read_gen[b] = gen[b]
        if movinggc and rotate and len(reserve) == free:
            reserve.append(b)
            b = reserve.pop(0)
        (reserve if movinggc and len(reserve) < free else free_none).append(b)

    def refill():
        while True:
            while free_inc_q and ((movinggc and len(reserve) < free) or len(free_none) < free):
                push(free_inc_q.popleft())
            if free_inc_q:
                return
            free_inc_q.extend(invalidate(free_inc))
            if not free_inc_q:
                return

    def hand_out(b):
        if b is not None:
            read_gen[b] = gen[b]
        return b

    def fresh_bucket():
        if free == 0 and free_inc == 0:
            return hand_out(next(invalidate(1), None))
        refill()
        return hand_out(free_none.popleft() if free_none else None)

    if free or free_inc:
        refill()
    for block in trace:
        clock += 1
        w = where.get(block)
        if w is not None and read_gen[w[0]] == w[1]:
            hits += 1
            last[w[0]] = clock
            continue
        if open_b is None or fill == bucket_blocks:
            if open_b is not None:
                last[open_b] = clock
                idle.add(open_b)
            open_b, fill = fresh_bucket(), 0
            if open_b is None:
                continue  # no bucket ready: not inserted
            holds[open_b] = True
            if free or free_inc:
                refill()
        where[block] = (open_b, gen[open_b])
        fill += 1
    return hits


def bucket_belady_hits(trace, nbuckets, bucket_blocks):
    """Belady's rule applied to whole buckets: the model's placement (misses
    fill buckets in order, through one open bucket), every data bucket
    usable, and the bucket reused is the one whose blocks are next read
    furthest in the future (empty ones first). Belady's rule is not proven
    optimal for groups of blocks; this shows what knowing the future buys
    a cache that reuses buckets whole and places data as this one does,
    i.e. how much a better order of reuse alone could win."""
    n = len(trace)
    nxt, seen = [0] * n, {}
    for i in range(n - 1, -1, -1):
        nxt[i] = seen.get(trace[i], n + 1)  # never read again: as far as can be
        seen[trace[i]] = i
    where, next_use = {}, {}  # block -> its bucket, its next read
    contents = [[] for _ in range(nbuckets)]
    idle = set(range(nbuckets))
    hits, open_b, fill = 0, None, 0
    for i, block in enumerate(trace):
        if block in where:
            hits += 1
            next_use[block] = nxt[i]
            continue
        if open_b is None or fill == bucket_blocks:
            if open_b is not None:
                idle.add(open_b)
            victim = max(idle, key=lambda b: (min((next_use[x] for x in contents[b]), default=2 * n + 2), -b))
            idle.discard(victim)
            for x in contents[victim]:
                del where[x], next_use[x]
            contents[victim], open_b, fill = [], victim, 0
        where[block], next_use[block] = open_b, nxt[i]
        contents[open_b].append(block)
        fill += 1
    return hits


def allocator_model(trace_path, nbuckets, bucket_blocks):
    """The model's hit ratios: bucket-granular LRU over every data bucket
    (and, beside it, Belady's rule over the same whole buckets), then with
    the freelists as the cache keeps them (buckets waiting on them still
    read; free[movinggc] empty, then filled, as moving GC keeps it),
    then under the earlier rule (invalidation ends the reads at once; the
    reserve, when filled, never rotates)."""
    with open(trace_path) as f:
        trace = [int(x) for x in f if x.strip()]
    n = len(trace) or 1
    # The superblock takes the device's first bucket; the sizes come from the
    # device's whole bucket count.
    free, free_inc = freelist_sizes(nbuckets + 1)

    def ratio(**kw):
        return allocator_model_hits(trace, nbuckets, bucket_blocks, **kw) / n

    return {
        "buckets": nbuckets, "bucket_blocks": bucket_blocks, "free": free, "free_inc": free_inc,
        "bucket_lru_hit_ratio": ratio(),
        "bucket_belady_hit_ratio": bucket_belady_hits(trace, nbuckets, bucket_blocks) / n,
        "allocator_hit_ratio": ratio(free=free, free_inc=free_inc),
        "allocator_movinggc_hit_ratio": ratio(free=free, free_inc=free_inc, movinggc=True),
        "old_rule_hit_ratio": ratio(free=free, free_inc=free_inc, old_gen_reads=False),
        "old_rule_movinggc_hit_ratio":
            ratio(free=free, free_inc=free_inc, movinggc=True, old_gen_reads=False, rotate=False),
    }


def cmd_hitratio(a):
    """One skew's result: the simulations, the model and every measured policy."""
    r = simulate(a.trace + ".blocks", a.capacity_blocks)
    r.update({"skew": a.skew, "buckets_total": a.buckets,
              "model": allocator_model(a.trace + ".blocks", a.buckets, a.bucket_blocks), "policies": []})
    for m in a.measured:
        promote, hits, misses, promotions, skipped = m.split(":")
        hits, misses = int(hits), int(misses)
        r["policies"].append({
            "promote": promote, "hits": hits, "misses": misses,
            "hit_ratio": hits / (hits + misses) if hits + misses else None,
            "promotions": int(promotions), "promotions_skipped": int(skipped),
            "fio_json": f"fio/hitratio--zipf-{a.skew:g}-{promote}.json"})
    always = next((p for p in r["policies"] if p["promote"] == "always"), None)
    if always:  # the fields of the single-policy runs
        r.update({"measured_hits": always["hits"], "measured_misses": always["misses"],
                  "measured_hit_ratio": always["hit_ratio"]})
    with open(a.trace + ".json", "w") as f:
        json.dump(r, f, indent=2)
    md = r["model"]
    print(f"LRU {r['lru_hit_ratio'] * 100:.1f}%  Belady {r['belady_hit_ratio'] * 100:.1f}%  "
          f"(model: bucket LRU {md['bucket_lru_hit_ratio'] * 100:.1f}%, "
          f"with the freelists {md['allocator_hit_ratio'] * 100:.1f}%)")


# ---------------------------------------------------------------- memory
# The figures of bench_memory (bench/memory_bench.cc), in the order of the table.
MEMORY_FIGURES = [
    ("rss_fill_mib", "RSS after the fill"),
    ("peak_fill_mib", "peak RSS during the fill"),
    ("rss_reopen_mib", "RSS after close and reopen (GC pass)"),
    ("peak_reopen_mib", "peak RSS during close and reopen"),
    ("rss_reads_mib", "RSS after reading back"),
    ("peak_mib", "peak RSS of the whole run"),
]


def memory_result(out):
    """DIR/memory/bench_memory.json as results.json's "memory" entry; None if the run was not asked for."""
    d = os.path.join(out, "memory")
    err = os.path.join(d, "error.txt")
    if os.path.exists(err):
        with open(err) as f:
            return {"available": False, "reason": f.read().strip() or "bench_memory failed"}
    path = os.path.join(d, "bench_memory.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        b = json.load(f)["benchmarks"][0]
    if b.get("error_occurred"):
        return {"available": False, "reason": b.get("error_message", "bench_memory failed")}
    target = b["target_mib"]
    r = {"available": True, "extents": int(b["extents"]), "cache_gib": b["cache_gib"],
         "bucket_kib": b["bucket_kib"], "target_mib": target, "reads": int(b["reads"]), "hits": int(b["hits"]),
         "anon_reads_mib": b["anon_reads_mib"], "file_reads_mib": b["file_reads_mib"],
         "seconds": b["real_time"], "bench_json": "memory/bench_memory.json"}
    for key, _ in MEMORY_FIGURES:
        r[key] = b[key]
        r[key[:-len("_mib")] + "_ratio_to_target"] = b[key] / target
    r["meets_target"] = b["peak_mib"] <= target
    return r


def print_memory(m):
    print()
    if not m.get("available"):
        print(f"memory: unavailable: {m.get('reason', '')}")
        return
    print(f"memory: {m['extents']} extents in a {m['cache_gib']:.0f} GiB cache of {m['bucket_kib']:.0f} KiB buckets, "
          f"target {m['target_mib']:.0f} MiB")
    print(f"{'figure':<38} {'MiB':>8} {'/target':>8}")
    for key, label in MEMORY_FIGURES:
        print(f"{label:<38} {m[key]:>8.1f} {m[key[:-len('_mib')] + '_ratio_to_target']:>8.2f}")
    print(f"after reading back: {m['anon_reads_mib']:.1f} MiB anonymous (heap, stacks), "
          f"{m['file_reads_mib']:.1f} MiB mapped files (code); {m['hits']} of {m['reads']} reads hit")
    print("target " + ("met" if m["meets_target"] else "NOT met") + " (peak RSS of the whole run)")


# ---------------------------------------------------------------- report
def fio_summary(path, job):
    with open(path) as f:
        text = f.read()
    # fio may print warnings before the JSON object
    d = json.loads(text[text.index("{"):])
    j = d["jobs"][0]
    if j.get("error", 0):
        raise ValueError(f"fio job error {j['error']}")
    parts = [p for p in ("read", "write") if j[p]["total_ios"] > 0]
    if not parts:
        raise ValueError("no I/O completed")
    iops = sum(j[p]["iops"] for p in parts)
    mbps = sum(j[p]["bw_bytes"] for p in parts) / 1e6
    value = mbps if JOB_METRIC[job] == "MB/s" else iops
    return {"value": value, "metric": JOB_METRIC[job], "iops": iops, "mb_per_s": mbps,
            "p50_us": clat_percentile_us(j, parts, "50.000000"), "p99_us": clat_percentile_us(j, parts, "99.000000"),
            "ios": sum(j[p]["total_ios"] for p in parts), "runtime_ms": max(j[p]["runtime"] for p in parts)}


def clat_percentile_us(j, parts, key):
    """fio's completion-latency percentile KEY in microseconds; with reads
    and writes, the larger of the two."""
    v = 0.0
    for p in parts:
        x = j[p].get("clat_ns", {}).get("percentile", {}).get(key)
        if x is not None:
            v = max(v, x / 1e3)
    return v


def fmt_us(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} us"


def cmd_summary(a):
    """One line for bench/run's progress: the job's figure, p50 and p99."""
    s = fio_summary(a.json, a.job)
    print(f"{s['value']:.1f} {s['metric']}  p50 {fmt_us(s['p50_us'])}  p99 {fmt_us(s['p99_us'])}  ({s['ios']} I/Os)")


# ---------------------------------------------------------------- warm comparison
WARM_FLOOR, WARM_BCL = "fuse-floor", "bcl-writethrough-warm"
# The floor a second time, in the same rounds: two identical sides differ by
# this machine's noise alone, which bounds what one round's ratio can show.
WARM_TWIN = "fuse-floor-twin"
# The targets, against the floor (medians of the per-round ratios),
# and the share of the measured reads that must have been hits.
WARM_TARGETS = {"throughput_ratio_min": 1.0, "p99_ratio_max": {"randread-4k-qd1": 1.2}, "hit_ratio_min": 0.95}


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def read_warm_tsv(out):
    """DIR/warm.tsv (row, job, round, fio JSON or "-", hits, misses, note):
    {(row, job): [round, ...]} and {(row, job): why it is unavailable}."""
    rounds, missing = {}, {}
    with open(os.path.join(out, "warm.tsv")) as f:
        for line in f:
            if not line.strip():
                continue
            row, job, rnd, path, hits, misses, note = (line.rstrip("\n").split("\t") + [""] * 7)[:7]
            if path == "-":
                missing[(row, job)] = note
                continue
            try:
                r = {"round": int(rnd), "fio_json": os.path.relpath(path, out), **fio_summary(path, job)}
            except (ValueError, KeyError, OSError) as e:
                missing[(row, job)] = f"fio failed: {e}"
                continue
            if hits != "-":
                r["hits"], r["misses"] = int(hits), int(misses)
                r["hit_ratio"] = r["hits"] / (r["hits"] + r["misses"]) if r["hits"] + r["misses"] else None
            rounds.setdefault((row, job), []).append(r)
    return rounds, missing


def warm_job_result(job, floor, bcl):
    """One job's comparison: per-round ratios bcachefs-lite/floor (rounds
    present on both sides), their medians, the hit ratio and the targets."""
    r = {"job": job, "metric": JOB_METRIC[job], "rounds": []}
    by_round = {x["round"]: x for x in floor}
    for b in bcl:
        f = by_round.get(b["round"])
        if not f:
            continue
        r["rounds"].append({
            "round": b["round"], "floor_value": f["value"], "bcl_value": b["value"],
            "floor_p50_us": f["p50_us"], "bcl_p50_us": b["p50_us"],
            "floor_p99_us": f["p99_us"], "bcl_p99_us": b["p99_us"],
            "throughput_ratio": b["value"] / f["value"] if f["value"] > 0 else None,
            "p50_ratio": b["p50_us"] / f["p50_us"] if f["p50_us"] > 0 else None,
            "p99_ratio": b["p99_us"] / f["p99_us"] if f["p99_us"] > 0 else None,
            "hit_ratio": b.get("hit_ratio")})
    for key in ("throughput_ratio", "p50_ratio", "p99_ratio"):
        r["median_" + key] = median(x[key] for x in r["rounds"])
    hits = sum(x.get("hits", 0) for x in bcl)
    reads = hits + sum(x.get("misses", 0) for x in bcl)
    r["hit_ratio"] = hits / reads if reads else None
    t = WARM_TARGETS
    checks = {"throughput": r["median_throughput_ratio"] is not None
              and r["median_throughput_ratio"] >= t["throughput_ratio_min"],
              "hits": r["hit_ratio"] is not None and r["hit_ratio"] >= t["hit_ratio_min"]}
    if job in t["p99_ratio_max"]:
        checks["p99"] = r["median_p99_ratio"] is not None and r["median_p99_ratio"] <= t["p99_ratio_max"][job]
    r["targets_met"] = checks
    return r


def warm_noise(job, floor, twin, bcl):
    """The twin against the floor, round by round: the spread of the ratio
    of two identical sides (throughput and p99). And bcachefs-lite against
    the mean of the two: it runs between them, so a load that rises or
    falls steadily over a round weighs on both sides of that ratio alike."""
    floor_by, bcl_by = {x["round"]: x for x in floor}, {x["round"]: x for x in bcl or []}
    pairs = [(t, floor_by[t["round"]]) for t in twin if t["round"] in floor_by]
    thr = [t["value"] / f["value"] for t, f in pairs if f["value"] > 0]
    p99 = [t["p99_us"] / f["p99_us"] for t, f in pairs if f["p99_us"] > 0]
    both = [bcl_by[t["round"]]["value"] * 2 / (t["value"] + f["value"])
            for t, f in pairs if t["round"] in bcl_by and t["value"] + f["value"] > 0]
    return {"job": job, "throughput_ratios": thr, "p99_ratios": p99,
            "median_throughput_ratio": median(thr), "median_p99_ratio": median(p99),
            "min_throughput_ratio": min(thr, default=None), "max_throughput_ratio": max(thr, default=None),
            "bcl_to_both_floors_ratios": both, "median_bcl_to_both_floors_ratio": median(both)}


def warm_row(row, job, rounds):
    """A table row from a side's rounds: the medians of its figures."""
    r = {"row": row, "job": job, "available": True, "metric": JOB_METRIC[job], "rounds": len(rounds),
         "fio_json": [x["fio_json"] for x in rounds],
         "note": f"median of {len(rounds)} time-based round(s), alternated with the other side"}
    for key in ("value", "iops", "mb_per_s", "p50_us", "p99_us"):
        r[key] = median(x[key] for x in rounds)
    r["ios"] = sum(x["ios"] for x in rounds)
    return r


def warm_result(out):
    """results.json's "warm" entry and the rows it adds to the table (the
    medians of each side); (None, []) if the comparison did not run."""
    if not os.path.exists(os.path.join(out, "warm.tsv")):
        return None, []
    rounds, missing = read_warm_tsv(out)
    jobs = [j for j, _, _ in JOBS if any(k[1] == j for k in list(rounds) + list(missing))]
    rows, result = [], {"targets": WARM_TARGETS, "jobs": []}
    for job in jobs:
        for row in (WARM_FLOOR, WARM_BCL, WARM_TWIN):
            if (row, job) in rounds:
                rows.append(warm_row(row, job, rounds[(row, job)]))
            elif (row, job) in missing:
                rows.append({"row": row, "job": job, "available": False, "reason": missing[(row, job)],
                             "note": missing[(row, job)]})
        floor, bcl = rounds.get((WARM_FLOOR, job)), rounds.get((WARM_BCL, job))
        if floor and bcl:
            jr = warm_job_result(job, floor, bcl)
            bcl_row = next(r for r in rows if r["row"] == WARM_BCL and r["job"] == job)
            bcl_row["ratio_to_fuse_floor"] = jr["median_throughput_ratio"]
            bcl_row["hit_ratio"] = jr["hit_ratio"]
            bcl_row["note"] += f"; /floor is the median of the per-round ratios; hits {fmt_pct(jr['hit_ratio'])}"
            result["jobs"].append(jr)
        twin = rounds.get((WARM_TWIN, job))
        if floor and twin:
            noise = warm_noise(job, floor, twin, bcl)
            twin_row = next(r for r in rows if r["row"] == WARM_TWIN and r["job"] == job)
            twin_row["ratio_to_fuse_floor"] = noise["median_throughput_ratio"]
            twin_row["note"] += "; /floor is the median of the per-round ratios: the noise of the comparison"
            result.setdefault("noise", []).append(noise)
    return result, rows


def fmt_pct(x):
    return f"{x * 100:.1f}%" if isinstance(x, (int, float)) else "-"


def print_warm(w):
    print()
    print("warm reads: bcachefs-lite (file cached whole) / FUSE floor, alternated in time-based rounds")
    hdr = (f"{'job':<17} {'round':>6} {'floor':>13} {'bcl':>13} {'x floor':>8} {'p50 floor':>10} {'p50 bcl':>9} "
           f"{'p99 floor':>10} {'p99 bcl':>9} {'p99 x':>6} {'hits':>7}")
    print(hdr)
    print("-" * len(hdr))
    for jr in w["jobs"]:
        unit = jr["metric"]
        for x in jr["rounds"]:
            print(f"{jr['job']:<17} {x['round']:>6} {x['floor_value']:>8.1f} {unit:<4} {x['bcl_value']:>8.1f} {unit:<4} "
                  f"{fmt_ratio(x['throughput_ratio']):>8} {fmt_us(x['floor_p50_us']):>10} {fmt_us(x['bcl_p50_us']):>9} "
                  f"{fmt_us(x['floor_p99_us']):>10} {fmt_us(x['bcl_p99_us']):>9} {fmt_ratio(x['p99_ratio']):>6} "
                  f"{fmt_pct(x['hit_ratio']):>7}")
        met = ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in jr["targets_met"].items())
        print(f"{jr['job']:<17} {'median':>6} {'':>13} {'':>13} {fmt_ratio(jr['median_throughput_ratio']):>8} "
              f"{'':>10} {'':>9} {'':>10} {'':>9} {fmt_ratio(jr['median_p99_ratio']):>6} "
              f"{fmt_pct(jr['hit_ratio']):>7}   targets: {met}")
    for n in w.get("noise", []):
        print(f"{n['job']:<17} noise: the floor's twin / the floor per round "
              + " ".join(fmt_ratio(x) for x in n["throughput_ratios"])
              + f" (from {fmt_ratio(n['min_throughput_ratio'])} to {fmt_ratio(n['max_throughput_ratio'])}, "
              f"median {fmt_ratio(n['median_throughput_ratio'])}; p99 median {fmt_ratio(n['median_p99_ratio'])})")
        if n["bcl_to_both_floors_ratios"]:
            print(f"{n['job']:<17} bcachefs-lite / the mean of the floor and its twin per round "
                  + " ".join(fmt_ratio(x) for x in n["bcl_to_both_floors_ratios"])
                  + f" (median {fmt_ratio(n['median_bcl_to_both_floors_ratio'])})")
    t = w["targets"]
    print(f"targets: throughput >= {t['throughput_ratio_min']:.1f}x the floor, p99 "
          + ", ".join(f"{j} <= {v:.1f}x" for j, v in t["p99_ratio_max"].items())
          + f", >= {t['hit_ratio_min'] * 100:.0f}% of the measured reads hits")


def floor_row_for(job):
    # passthrough_ll cannot do O_DIRECT writes: write jobs compare with ext4 on the cache device.
    return "fuse-floor" if JOB_KIND[job] == "read" else "ext4-native"


def rclone_row_for(row, job):
    if JOB_KIND[job] == "write":
        return "rclone"
    return "rclone-cold" if row.endswith("-cold") else "rclone-warm"


def cmd_report(a):
    out = a.out
    meta = {}
    if os.path.exists(os.path.join(out, "meta.json")):
        with open(os.path.join(out, "meta.json")) as f:
            meta = json.load(f)
    rows = []
    with open(os.path.join(out, "rows.tsv")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            row, job, path, note = (line.split("\t") + ["", "", "", ""])[:4]
            r = {"row": row, "job": job, "note": note}
            if path == "-":
                r["available"] = False
                r["reason"] = note
            else:
                r["fio_json"] = os.path.relpath(path, out)
                try:
                    r.update(fio_summary(path, job))
                    r["available"] = True
                except (ValueError, KeyError, OSError) as e:
                    r["available"] = False
                    r["reason"] = f"fio failed: {e}"
            rows.append(r)
    warm, warm_rows = warm_result(out)
    rows += warm_rows
    by = {(r["row"], r["job"]): r for r in rows if r.get("available")}
    for r in rows:
        if not r.get("available"):
            continue
        for key, ref in (("ratio_to_fuse_floor", floor_row_for(r["job"])),
                         ("ratio_to_rclone", rclone_row_for(r["row"], r["job"]))):
            other = by.get((ref, r["job"]))
            if key not in r:  # the warm comparison sets its own: the median of its rounds' ratios
                r[key] = r["value"] / other["value"] if other and other["value"] > 0 else None
            r[key + "_ref"] = ref if other else None
    thr = meta.get("throttle")
    if thr:
        checks = []
        for job, unit, limit in (("seqread-1m", "MB/s", thr.get("mb_per_s")),
                                 ("randread-4k-qd16", "IOPS", thr.get("iops"))):
            r = by.get(("slow-direct", job))
            if r and limit:
                ok = r["value"] <= 1.15 * limit
                checks.append(f"slow-direct {job} {r['value']:.1f} {unit} vs limit {limit}: "
                              + ("within" if ok else "ABOVE the limit, throttling is not effective"))
        thr["check"] = "; ".join(checks) if checks else "not measured (no slow-direct row)"
    hit = []
    hdir = os.path.join(out, "hitratio")
    if os.path.isdir(hdir):
        for name in sorted(os.listdir(hdir)):
            if name.endswith(".json"):
                with open(os.path.join(hdir, name)) as f:
                    hit.append(json.load(f))
    result = {"meta": meta, "rows": rows, "hit_ratio": hit}
    if warm is not None:
        result["warm"] = warm
    memory = memory_result(out)
    if memory is not None:
        result["memory"] = memory
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    print_table(rows, hit, meta)
    if warm is not None:
        print_warm(warm)
    if memory is not None:
        print_memory(memory)
    chart(out, rows, hit, warm)


def fmt_ratio(x):
    return f"{x:.2f}" if isinstance(x, (int, float)) else "-"


def print_table(rows, hit, meta):
    hdr = f"{'row':<22} {'job':<17} {'value':>14} {'p50':>10} {'p99':>10} {'/floor':>7} {'/rclone':>8}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if not r.get("available"):
            print(f"{r['row']:<22} {r['job']:<17} {'unavailable: ' + r.get('reason', ''):<}")
            continue
        val = f"{r['value']:.1f} {r['metric']}"
        hits = f"  hits {fmt_pct(r['hit_ratio'])}" if "hit_ratio" in r else ""
        print(f"{r['row']:<22} {r['job']:<17} {val:>14} {fmt_us(r['p50_us']):>10} {fmt_us(r['p99_us']):>10} "
              f"{fmt_ratio(r.get('ratio_to_fuse_floor')):>7} {fmt_ratio(r.get('ratio_to_rclone')):>8}{hits}")
    if hit:
        print()
        print(f"{'zipf skew':<10} {'promote':<8} {'reads':>7} {'distinct':>9} {'capacity':>9} {'measured':>9} "
              f"{'LRU':>7} {'Belady':>7} {'inserted':>9} {'kept out':>9}")
        for h in hit:
            # Results of runs with one policy only have no "policies".
            policies = h.get("policies") or [{"promote": "always", "hit_ratio": h.get("measured_hit_ratio")}]
            for p in policies:
                m = p.get("hit_ratio")
                ms = f"{m * 100:.1f}%" if isinstance(m, (int, float)) else "-"
                print(f"{h['skew']:<10} {p['promote']:<8} {h['reads']:>7} {h['distinct_blocks']:>9} "
                      f"{h['capacity_blocks']:>9} {ms:>9} {h['lru_hit_ratio'] * 100:>6.1f}% "
                      f"{h['belady_hit_ratio'] * 100:>6.1f}% {p.get('promotions', '-'):>9} "
                      f"{p.get('promotions_skipped', '-'):>9}")
        for h in hit:
            md = h.get("model")
            if md:
                print(f"allocator model, zipf {h['skew']}: bucket-granular LRU over all {md['buckets']} buckets "
                      f"{md['bucket_lru_hit_ratio'] * 100:.1f}%; with the freelists (free {md['free']}, free_inc "
                      f"{md['free_inc']}) {md['allocator_hit_ratio'] * 100:.1f}%, and free[movinggc] filled "
                      f"{md['allocator_movinggc_hit_ratio'] * 100:.1f}%")
                if "bucket_belady_hit_ratio" in md:
                    print(f"  whole buckets reused by Belady's rule (knowing the future), same placement: "
                          f"{md['bucket_belady_hit_ratio'] * 100:.1f}%")
                if "old_rule_hit_ratio" in md:
                    print(f"  under the earlier rule (invalidation ends the reads at once): "
                          f"{md['old_rule_hit_ratio'] * 100:.1f}%, free[movinggc] filled "
                          f"{md['old_rule_movinggc_hit_ratio'] * 100:.1f}%")
    thr = meta.get("throttle", {})
    if thr:
        print()
        print(f"throttling: {thr.get('method')}; {thr.get('note', '')}")
        if "check" in thr:
            print(f"throttle check: {thr['check']}")


def warm_chart_data(out, warm):
    """The warm comparison's two data files: the median ratios per job, and
    the median p50 and p99 of each side (from the rounds)."""
    rdat, ldat = os.path.join(out, "warm-ratios.dat"), os.path.join(out, "warm-latency.dat")
    med = lambda jr, k: median(x[k] for x in jr["rounds"])
    with open(rdat, "w") as f, open(ldat, "w") as g:
        f.write('job "throughput / floor" "p50 / floor" "p99 / floor"\n')
        g.write('job "floor p50" "bcachefs-lite p50" "floor p99" "bcachefs-lite p99"\n')
        for jr in warm["jobs"]:
            cells = [jr[k] for k in ("median_throughput_ratio", "median_p50_ratio", "median_p99_ratio")]
            f.write(f'"{jr["job"]}" ' + " ".join(f"{c:.4f}" if c is not None else "NaN" for c in cells) + "\n")
            cells = [med(jr, k) for k in ("floor_p50_us", "bcl_p50_us", "floor_p99_us", "bcl_p99_us")]
            g.write(f'"{jr["job"]}" ' + " ".join(f"{c:.1f}" if c else "NaN" for c in cells) + "\n")
    return rdat, ldat


def chart(out, rows, hit, warm=None):
    """Panels: IOPS/MB/s per job and row (log scale); with the warm
    comparison, its median ratios to the floor and its latencies; the hit
    ratios."""
    avail = [r for r in rows if r.get("available")]
    if not avail:
        return
    jobs = [j for j, _, _ in JOBS if any(r["job"] == j for r in avail)]
    names = []
    for r in avail:
        if r["row"] not in names:
            names.append(r["row"])
    dat = os.path.join(out, "chart.dat")
    with open(dat, "w") as f:
        f.write("job " + " ".join(f'"{n}"' for n in names) + "\n")
        for j in jobs:
            vals = []
            for n in names:
                r = next((x for x in avail if x["row"] == n and x["job"] == j), None)
                vals.append(f"{r['value']:.3f}" if r and r["value"] > 0 else "NaN")
            f.write(f'"{j} ({JOB_METRIC[j]})" ' + " ".join(vals) + "\n")
    hdat = os.path.join(out, "hitratio.dat")
    with open(hdat, "w") as f:
        f.write('skew "promote=always" "promote=nhit" LRU Belady\n')
        for h in hit:
            ratio = {p["promote"]: p.get("hit_ratio") for p in h.get("policies", [])}
            ratio.setdefault("always", h.get("measured_hit_ratio"))
            cells = [f"{ratio[k] * 100}" if isinstance(ratio.get(k), (int, float)) else "NaN"
                     for k in ("always", "nhit")]
            f.write(f'"zipf {h["skew"]}" {" ".join(cells)} '
                    f'{h["lru_hit_ratio"] * 100} {h["belady_hit_ratio"] * 100}\n')
    warm = warm if warm and warm["jobs"] else None
    panels = 1 + (2 if warm else 0) + (1 if hit else 0)
    gp = [
        f'set terminal pngcairo size 1400,{500 * panels} font ",9"' if has_pngcairo() else
        f'set terminal png size 1400,{500 * panels}',
        f'set output "{os.path.join(out, "results.png")}"',
        f"set multiplot layout {panels},1",
        'set style data histogram', 'set style histogram clustered gap 1',
        'set style fill solid 0.9 border -1', 'set key outside right top',
        'set logscale y', 'set grid ytics', 'set xtics rotate by -15',
        'set title "bcachefs-lite benchmark: IOPS (4k jobs) or MB/s (1M job), log scale"',
        'colors = "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 '
        '#17becf #000000 #aec7e8 #ffbb78 #98df8a #ff9896 #c5b0d5"',
        f'plot for [i=2:{len(names) + 1}] "{dat}" using i:xtic(1) title columnheader(i) '
        'lc rgb word(colors, (i - 2) % 16 + 1)',
    ]
    if warm:
        rdat, ldat = warm_chart_data(out, warm)
        gp += ['unset logscale y', 'set yrange [0:*]', 'set ylabel "bcachefs-lite / floor"',
               'set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2',
               'set title "warm reads: bcachefs-lite / FUSE floor, median of the per-round ratios '
               '(throughput: above 1 is faster; latency: below 1 is faster)"',
               f'plot for [i=2:4] "{rdat}" using i:xtic(1) title columnheader(i)',
               'unset arrow 1', 'set logscale y', 'set yrange [*:*]', 'set ylabel "microseconds"',
               'set title "warm reads: completion latency, median over the rounds (log scale)"',
               f'plot for [i=2:5] "{ldat}" using i:xtic(1) title columnheader(i)']
    if hit:
        gp += ['unset logscale y', 'set yrange [0:100]', 'set ylabel "hit ratio %"',
               'set title "hit ratio over a working set twice the cache size"',
               f'plot for [i=2:5] "{hdat}" using i:xtic(1) title columnheader(i)']
    gp.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True, capture_output=True)
    if r.returncode != 0:
        print("gnuplot failed: " + r.stderr.strip(), file=sys.stderr)


def has_pngcairo():
    r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (r.stdout + r.stderr)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("trace")
    t.add_argument("--blocks", type=int, required=True)
    t.add_argument("--reads", type=int, required=True)
    t.add_argument("--skew", type=float, required=True)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--file", required=True)
    t.add_argument("--out", required=True)
    s = sub.add_parser("simulate")
    s.add_argument("--trace", required=True)
    s.add_argument("--capacity-blocks", type=int, required=True)
    h = sub.add_parser("hitratio")
    h.add_argument("--trace", required=True)
    h.add_argument("--skew", type=float, required=True)
    h.add_argument("--capacity-blocks", type=int, required=True)
    h.add_argument("--buckets", type=int, required=True)
    h.add_argument("--bucket-blocks", type=int, required=True)
    h.add_argument("measured", nargs="*", help="POLICY:HITS:MISSES:PROMOTIONS:SKIPPED")
    m = sub.add_parser("summary")
    m.add_argument("json")
    m.add_argument("job")
    r = sub.add_parser("report")
    r.add_argument("--out", required=True)
    a = p.parse_args()
    {"trace": cmd_trace, "simulate": cmd_simulate, "hitratio": cmd_hitratio, "summary": cmd_summary,
     "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
