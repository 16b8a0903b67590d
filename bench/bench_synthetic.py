"""Speed of the synthetic FreiHAND generator on one core (target: >= 100 images/s at 224 px).

Times ``make_synthetic_freihand`` end to end (rendering, JPEG encoding, masks, json, file writes) with one
worker, pinned to one CPU and with OpenCV's threads off, and prints images/s with its ratio to the
100 img/s target. A reference run in the same process writes the same number of JPEGs of a fixed
image: the I/O floor, so the printout also says how much of the time is rendering.

    python bench/bench_synthetic.py [--num-train 300] [--num-eval 100] [--size 224]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from peclr_lab.synthetic import make_synthetic_freihand, render_sample
from peclr_lab.synthetic.writer import JPEG_QUALITY

TARGET = 100.0  # images/s on one core


def _io_floor(out: Path, count: int, size: int) -> float:
    """Seconds to JPEG-encode and write ``count`` copies of one rendered image (the reference)."""
    image = render_sample(0, "evaluation", 0, size).images[0]
    out.mkdir()
    start = time.perf_counter()
    for i in range(count):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        (out / f"{i:08d}.jpg").write_bytes(buf.tobytes())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-train", type=int, default=300)
    parser.add_argument("--num-eval", type=int, default=100)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    render_sample(0, "training", 0, args.size)  # warm-up: imports, noise tile
    images = 4 * args.num_train + args.num_eval
    times, cpu = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            make_synthetic_freihand(Path(tmp) / f"run{r}", args.num_train, args.num_eval, size=args.size,
                                    seed=r, workers=1, progress=False)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        floor = _io_floor(Path(tmp) / "floor", images, args.size)
    best = min(times)
    rate = images / best
    print(f"synthetic FreiHAND, {args.size} px, one core: {images} images ({args.num_train} x 4 training + "
          f"{args.num_eval} evaluation, plus {args.num_train} masks and the json files)")
    print(f"  wall: {', '.join(f'{t:.2f} s' for t in times)}; best {best:.2f} s")
    print(f"  {rate:.1f} images/s  ->  {rate / TARGET:.2f} x the {TARGET:.0f} img/s target")
    print(f"  reference (JPEG encode + write only): {images / floor:.0f} images/s; the generator takes "
          f"{best / floor:.1f} x the I/O floor ({1000 * (best - floor) / images:.2f} ms/image of rendering)")
    cpu_rate = images / min(cpu)
    print(f"  CPU time (what one core delivers when the machine is shared): {images / min(cpu):.1f} images "
          f"per CPU-second -> {cpu_rate / TARGET:.2f} x target; median wall run {np.median(times):.2f} s")


if __name__ == "__main__":
    main()
