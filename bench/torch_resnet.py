"""The bench's PyTorch reference: our pre-activation ResNets written plainly in torch.nn.

    python bench/torch_resnet.py        # trainable parameters and FLOPs of each reference net

The same architectures as `keras_resnetv2`'s builders (arXiv:1603.05027), so that
`bench/throughput.py` can time one network in both frameworks; written from the paper
and the layout conventions documented in `keras_resnetv2/models/spec.py`, not generated from
a `ResNetSpec`. Equal trainable parameters and equal forward FLOPs (which, unlike
parameters, see where the strides are) are the check that the two are the same net
(`tests/bench/test_bench_throughput.py`, and the bench's own parameter table).

* ResNet-20V2, ResNet-110V2 (`layout="paper"`, basic units, 6n+2): 3x3 stem of 16,
  stages of widths 16/32/64, stride on the first unit of stages 2 and 3 (its first
  3x3), the widening shortcut parameter-free "option A" (subsample the pre-activated
  input, append zero channels), no conv biases.
* ResNet-164V2 (`layout="paper"`, bottleneck units, 9n+2): widths 16/32/64 with
  expansion 4, stride on the first 1x1 (`resnet-pre-act.lua`), widening shortcuts a
  1x1 projection of the pre-activated input, no conv biases.
* ResNet50V2 (`layout="keras"`, keras.applications' TF-slim layout): 7x7/2 stem
  with a bias and no BN-ReLU after it, zero-padded 3x3/2 max pool, stages of widths
  64..512 (x4) with 3, 4, 6, 3 units, the stride on the 3x3 of the *last* unit of
  stages 1-3 (its shortcut a 1x1/2 subsample of the raw input), biases on the convs
  no BN follows (the projection and each unit's last 1x1), BN epsilon 1.001e-5.

Every net ends with BN-ReLU, global average pooling and a Dense layer, and returns
logits (the Keras models end with a softmax; the torch loss fuses it).
The BN running statistics are buffers, not parameters, in both frameworks.
"""

import contextlib
import time

import torch
import torch.nn.functional as F
from torch import nn

LEARNING_RATE = 0.01
MOMENTUM = 0.9

PAPER_BN = dict(eps=1e-5, momentum=0.1)  # Torch's defaults, the official code's
KERAS_BN = dict(eps=1.001e-5, momentum=0.01)  # Keras momentum 0.99 is Torch's 0.01


class PreActUnit(nn.Module):
    """One full pre-activation unit: x + F(ReLU(BN(x))) (Fig. 4(e) of the paper).

    Args:
        channels_in: input channels.
        width: branch width (output channels are `width * expansion`).
        bottleneck: 1x1, 3x3, 1x1 branch with expansion 4, else two 3x3 convs.
        stride: 1 or 2.
        stride_on_3x3: where a bottleneck's stride goes: its 3x3, else its first 1x1.
        zero_pad_shortcut: widening shortcut "option A" instead of a 1x1 projection.
        bias_unless_normalized: biases on the convs no BN follows (keras' v2 layout).
        bn: BatchNorm2d keyword arguments.
    """

    def __init__(self, channels_in, width, *, bottleneck, stride, stride_on_3x3, zero_pad_shortcut,
                 bias_unless_normalized, bn):
        super().__init__()
        channels_out = width * (4 if bottleneck else 1)
        kernels = (1, 3, 1) if bottleneck else (3, 3)
        stride_index = kernels.index(3) if (bottleneck and stride_on_3x3) else 0
        self.preact = nn.Sequential(nn.BatchNorm2d(channels_in, **bn), nn.ReLU(inplace=True))
        layers = []
        for j, kernel in enumerate(kernels):
            last = j == len(kernels) - 1
            layers.append(nn.Conv2d(
                channels_in if j == 0 else width,
                channels_out if last else width,
                kernel,
                stride=stride if j == stride_index else 1,
                padding=kernel // 2,
                bias=bias_unless_normalized and last,
            ))
            if not last:
                layers += [nn.BatchNorm2d(width, **bn), nn.ReLU(inplace=True)]
        self.branch = nn.Sequential(*layers)
        self.stride = stride
        self.widen = channels_out // channels_in if channels_out != channels_in else 1
        self.projection = None
        if channels_out != channels_in and not zero_pad_shortcut:
            self.projection = nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=bias_unless_normalized)

    def forward(self, x):
        activated = self.preact(x)
        if self.projection is not None:
            shortcut = self.projection(activated)
        elif self.widen > 1:  # option A reads the activated input, like the projection
            sub = activated[:, :, :: self.stride, :: self.stride]
            shortcut = torch.cat([sub] + [torch.zeros_like(sub)] * (self.widen - 1), dim=1)
        else:
            shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        return shortcut + self.branch(activated)


class PreActResNet(nn.Module):
    """Stem, stages of `PreActUnit`, BN-ReLU, global average pooling, Dense.

    Args:
        stage_units, stage_widths: units and branch width of each stage.
        bottleneck: the unit's block.
        imagenet_stem: 7x7/2 conv (with a bias) and a 3x3/2 max pool, else a 3x3 conv.
        stem_width: filters of the stem conv.
        stride_last: stride 2 on the last unit of every stage but the last (keras v2),
            else on the first unit of every stage but the first (the paper).
        classes: outputs of the Dense layer.
        **unit_options: `stride_on_3x3`, `zero_pad_shortcut`, `bias_unless_normalized`,
            `bn` of `PreActUnit`.
    """

    def __init__(self, stage_units, stage_widths, *, bottleneck, imagenet_stem, stem_width, stride_last, classes,
                 **unit_options):
        super().__init__()
        if imagenet_stem:
            self.stem = nn.Sequential(
                nn.Conv2d(3, stem_width, 7, stride=2, padding=3, bias=True),
                nn.ZeroPad2d(1),  # keras pads with zeros before its max pool (torch's own pads with -inf)
                nn.MaxPool2d(3, stride=2),
            )
        else:
            self.stem = nn.Conv2d(3, stem_width, 3, padding=1, bias=False)
        units, channels = [], stem_width
        stages = len(stage_units)
        for stage, (count, width) in enumerate(zip(stage_units, stage_widths)):
            for unit in range(count):
                if stride_last:
                    stride = 2 if (stage < stages - 1 and unit == count - 1) else 1
                else:
                    stride = 2 if (stage > 0 and unit == 0) else 1
                units.append(PreActUnit(channels, width, bottleneck=bottleneck, stride=stride, **unit_options))
                channels = width * (4 if bottleneck else 1)
        self.units = nn.Sequential(*units)
        self.post = nn.Sequential(nn.BatchNorm2d(channels, **unit_options["bn"]), nn.ReLU(inplace=True))
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.post(self.units(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def cifar_v2(depth, *, bottleneck, classes=10):
    """The paper's CIFAR pre-activation ResNet-`depth` (6n+2 basic, 9n+2 bottleneck)."""
    per_unit = 9 if bottleneck else 6
    if depth < per_unit + 2 or (depth - 2) % per_unit:
        raise ValueError(f"`depth` must be {per_unit}n+2. Received: depth={depth!r}")
    n = (depth - 2) // per_unit
    return PreActResNet(
        (n,) * 3, (16, 32, 64), bottleneck=bottleneck, imagenet_stem=False, stem_width=16, stride_last=False,
        classes=classes, stride_on_3x3=False, zero_pad_shortcut=not bottleneck, bias_unless_normalized=False,
        bn=PAPER_BN,
    )


def resnet50_v2(classes=1000):
    """keras.applications' ResNet50V2 (TF-slim's layout)."""
    return PreActResNet(
        (3, 4, 6, 3), (64, 128, 256, 512), bottleneck=True, imagenet_stem=True, stem_width=64, stride_last=True,
        classes=classes, stride_on_3x3=True, zero_pad_shortcut=False, bias_unless_normalized=True, bn=KERAS_BN,
    )


REFERENCES = {
    "ResNet20V2": lambda classes: cifar_v2(20, bottleneck=False, classes=classes),
    "ResNet110V2": lambda classes: cifar_v2(110, bottleneck=False, classes=classes),
    "ResNet164V2": lambda classes: cifar_v2(164, bottleneck=True, classes=classes),
    "ResNet50V2": resnet50_v2,
}


def build(name, classes):
    """The reference net of our builder `name` (a key of `REFERENCES`)."""
    if name not in REFERENCES:
        raise ValueError(f"No torch reference for {name!r}; there is one for {sorted(REFERENCES)}. "
                         f"Received: name={name!r}")
    return REFERENCES[name](classes)


def trainable_parameters(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def forward_flops(net, input_shape):
    """Forward FLOPs per image, counted as `keras_resnetv2.models.flops.count_flops` does
    (2 per multiply-add of the convs and Linear layers), from one traced batch.

    Parameter counts do not see strides; equal FLOPs also check where each stride is.
    """
    total = []

    def count(layer, inputs, output):
        spatial = output.shape[2] * output.shape[3] if output.dim() == 4 else 1
        total.append(2 * layer.weight.numel() * spatial)

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    height, width, channels = input_shape
    try:
        with torch.inference_mode():
            net.eval()(torch.zeros(1, channels, height, width))
    finally:
        for hook in hooks:
            hook.remove()
    return sum(total)


def steps(name, *, batch_size, input_shape, classes, device="cpu", compiled=False, channels_last=True,
          bfloat16=False, seed=0):
    """The reference net's training and inference steps on one synthetic batch.

    Training: forward, cross-entropy, backward and an SGD step (momentum 0.9), in
    train mode. Inference: a forward pass in eval mode under `torch.inference_mode`.
    `compiled` wraps the net in `torch.compile` (the first call of each mode
    compiles), after `torch.compiler.reset()`: dynamo caches the compiled graphs of
    every net of a class on that class's `forward`, and past its recompile limit (8:
    4 nets in 2 modes) it runs a further net eagerly, which would time eager torch in
    the compiled column. `bfloat16` runs both under `torch.autocast`.

    Returns:
        `({"train": fn, "infer": fn}, sync, trainable parameter count)`; `sync()`
        waits for the device (a no-op on the CPU), to call before reading a timer.
    """
    torch.manual_seed(seed)
    device = torch.device(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = build(name, classes).to(device=device, memory_format=memory_format)
    if compiled:
        torch.compiler.reset()
    module = torch.compile(net) if compiled else net
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    height, width, channels = input_shape
    x = torch.randn(batch_size, channels, height, width, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, classes, (batch_size,), device=device)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if bfloat16 else contextlib.nullcontext()

    def train():
        if not net.training:
            net.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(module(x), y)
        loss.backward()
        optimizer.step()

    def infer():
        if net.training:
            net.eval()
        with torch.inference_mode(), autocast():
            module(x)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return {"train": train, "infer": infer}, sync, trainable_parameters(net)


def matmul_seconds(n, *, repeats, device="cpu", dtype="float32"):
    """Seconds of each of `repeats` n x n matmuls (after one untimed call)."""
    a, b = (torch.randn(n, n, device=device, dtype=getattr(torch, dtype)) for _ in range(2))
    out = torch.empty_like(a)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        sync()
        if i:
            times.append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    for name, make in REFERENCES.items():
        imagenet = name == "ResNet50V2"
        net = make(1000 if imagenet else 10)
        flops = forward_flops(net, (224, 224, 3) if imagenet else (32, 32, 3))
        print(f"{name}: {trainable_parameters(net):,} trainable parameters, {flops:,} forward FLOPs per image")
