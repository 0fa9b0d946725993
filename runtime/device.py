"""One device and distributed setup for every trainer (WVM training, policy_ft): Hugging Face accelerate.

A plain process trains on `--device` (`auto` = cuda when available, else cpu). Launched by `torchrun` or
`accelerate launch` with N processes, accelerate initialises the process group (nccl on GPUs, gloo
between CPU processes) and each process takes its local device; `prepare_model` wraps the model in DDP.
Device placement stays the caller's (`device_placement=False`), so a single process uses exactly the
device it was given.
"""

from __future__ import annotations

import os

import torch


def pick_device(device: str = "auto") -> str:
    """`auto` -> "cuda" when a GPU is visible, else "cpu"; anything else is returned as given."""
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def precision_for(device: str, precision: str = "auto") -> str:
    """accelerate's mixed-precision name: `auto` is bf16 autocast on GPU and none on CPU; `fp32` is none."""
    if precision == "auto":
        return "no" if pick_device(device) == "cpu" else "bf16"
    return {"fp32": "no"}.get(precision, precision)


def make_accelerator(device: str = "auto", mixed_precision: str = "auto", find_unused_parameters: bool = True):
    """The run's `accelerate.Accelerator`: DDP when launched with several processes, a no-op wrapper otherwise."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from accelerate.utils import DistributedDataParallelKwargs

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and "LOCAL_RANK" not in os.environ:
        # A plain process: accelerate's state is a process-wide singleton that refuses another device or
        # precision, so a second trainer in the same process (another --device) starts from a clean one.
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    return Accelerator(
        cpu=pick_device(device) == "cpu",
        mixed_precision=precision_for(device, mixed_precision),
        device_placement=False,
        step_scheduler_with_optimizer=False,  # schedules here count optimiser steps, whatever the process count
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)],
    )


def process_device(accelerator, device: str = "auto") -> torch.device:
    """This process's device: `device` in a plain process, the local accelerator device (or cpu under
    gloo) when distributed."""
    if accelerator.num_processes == 1:
        return torch.device(pick_device(device))
    dev = accelerator.device
    return torch.device("cpu") if dev.type == "cpu" else dev
