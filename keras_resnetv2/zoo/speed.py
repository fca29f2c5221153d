"""How fast a zoo entry classifies images, as a user runs it: `predict_on_batch`.

    python -m keras_resnetv2.zoo speed resnet20v2.fashion_mnist            # this machine
    python -m keras_resnetv2.zoo speed resnet20v2.fashion_mnist --record   # into the card

`measure_inference` times the compiled predict function of the model a builder makes
for the tag (raw uint8 pixels in, preprocessing inside the model), after warm-up
batches that trace and compile it: the median of `rounds` rounds, each of enough
batches to last `min_round_s`. The record names the CPU, its cores and the backend:
a figure from another machine (or a busy one) is not this one's. It is a model card's
figure, not a benchmark: `bench/throughput.py` compares frameworks, interleaved.
"""

import dataclasses
import math
import os
import statistics
import time

import keras
import numpy as np

from keras_resnetv2.utils.checks import check_int
from keras_resnetv2.utils.cpu import cpu_name


@dataclasses.dataclass(frozen=True)
class InferenceSpeed:
    """Images per second of `predict_on_batch` over several rounds.

    Attributes:
        images_per_second: the median over rounds (all three figures to 0.1 img/s).
        slowest, fastest: the slowest and fastest round's images per second.
        batch_size: images per batch.
        rounds: the rounds timed.
        cpu, cores: the processor's name and the cores the process may use.
        backend: the Keras backend.
    """

    images_per_second: float
    slowest: float
    fastest: float
    batch_size: int
    rounds: int
    cpu: str
    cores: int
    backend: str

    def to_dict(self):
        return {"mode": "predict_on_batch", **dataclasses.asdict(self)}

    def __str__(self):
        return (f"{self.images_per_second:,.0f} img/s (rounds {self.slowest:,.0f}-{self.fastest:,.0f}), "
                f"predict_on_batch, batch {self.batch_size}, {self.cpu}, {self.cores} cores, {self.backend}")


def measure_inference(model, *, batch_size=128, rounds=5, warmup=2, min_round_s=0.5, seed=0):
    """Times `model.predict_on_batch` on random uint8 images of its input shape.

    Args:
        model: a Keras model with one image input.
        batch_size: images per batch.
        rounds: rounds timed; the median is the figure.
        warmup: untimed batches first (tracing and compiling the predict function).
        min_round_s: each round runs enough batches to last about this long.
        seed: the images' random seed.

    Returns:
        An `InferenceSpeed`.
    """
    for name, value in (("batch_size", batch_size), ("rounds", rounds), ("warmup", warmup)):
        check_int(name, value, minimum=1)
    shape = tuple(model.input_shape[1:])
    images = np.random.default_rng(seed).integers(0, 256, (batch_size, *shape)).astype("uint8")
    for _ in range(warmup - 1):
        model.predict_on_batch(images)
    start = time.perf_counter()
    model.predict_on_batch(images)
    batches = max(1, math.ceil(min_round_s / max(time.perf_counter() - start, 1e-6)))
    speeds = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batches):
            model.predict_on_batch(images)
        speeds.append(batches * batch_size / (time.perf_counter() - start))
    # Rounded once, here: what is printed is what the manifest and the card record.
    return InferenceSpeed(
        images_per_second=round(statistics.median(speeds), 1), slowest=round(min(speeds), 1),
        fastest=round(max(speeds), 1),
        batch_size=batch_size, rounds=rounds, cpu=cpu_name(), cores=len(os.sched_getaffinity(0)),
        backend=keras.config.backend(),
    )
