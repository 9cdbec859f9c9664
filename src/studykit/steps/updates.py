"""An optimizer's update for gradients computed without autograd (studykit.steps.mlp_gradients).

Fused Adam's update is called directly: the kernel `torch.optim.Adam(fused=True)` runs (`torch._fused_adam_`,
`torch._fused_adamw_` for AdamW), on the optimizer's own state, without `Optimizer.step`'s Python around it
(hooks, profiling, grouping the tensors by device and dtype on every step), which costs more than the kernel for
the small networks this template is for: 12.8 against 34.5 microseconds a step for the 64-40-40-10 MLP's six tensors.
Public path: `optimizer.step()`, which this falls back to wherever its settings take another path (no fused,
several parameter groups, capturable, differentiable, a tensor learning rate; other optimizers) and to create
the state.
tests/test_written_step.py checks it against `optimizer.step()` bit for bit, so a torch release that changes
either fails there."""

from collections.abc import Callable

import torch
from torch import Tensor


def direct_update(optimizer: torch.optim.Optimizer) -> Callable[[list[Tensor]], None] | None:
    """A function applying `optimizer`'s update for the given gradients (in its parameters' order) through the
    fused kernel; None where the optimizer would not run that kernel as configured."""
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW) or len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    if not group.get("fused") or group["capturable"] or group["differentiable"] or torch.is_tensor(group["lr"]):
        return None
    kernel = torch._fused_adamw_ if group.get("decoupled_weight_decay") else torch._fused_adam_
    # The settings and the state's tensors, read again when `load_state_dict` replaces them (as on resume).
    kept: dict = {}

    def update(gradients: list[Tensor]) -> None:
        if kept.get("state") is not optimizer.state:
            group = optimizer.param_groups[0]
            states = [optimizer.state.get(parameter) for parameter in group["params"]]
            if not all(states):  # its first step creates the state
                for parameter, gradient in zip(group["params"], gradients, strict=True):
                    parameter.grad = gradient
                optimizer.step()
                for parameter in group["params"]:
                    parameter.grad = None
                return
            kept.update({key: [state[key] for state in states] for key in ("step", "exp_avg", "exp_avg_sq")})
            kept["max_exp_avg_sq"] = [state["max_exp_avg_sq"] for state in states] if group["amsgrad"] else []
            kept.update(state=optimizer.state, group=group)
        group = kept["group"]
        with torch.no_grad():
            torch._foreach_add_(kept["step"], 1)
            kernel(
                group["params"],
                gradients,
                kept["exp_avg"],
                kept["exp_avg_sq"],
                kept["max_exp_avg_sq"],
                kept["step"],
                amsgrad=group["amsgrad"],
                lr=group["lr"],
                beta1=group["betas"][0],
                beta2=group["betas"][1],
                weight_decay=group["weight_decay"],
                eps=group["eps"],
                maximize=group["maximize"],
                grad_scale=None,
                found_inf=None,
            )

    return update


def update(optimizer: torch.optim.Optimizer) -> Callable[[list[Tensor]], None]:
    """`direct_update` where it applies, else the gradients set on the parameters and `optimizer.step()`."""
    if (direct := direct_update(optimizer)) is not None:
        return direct
    params = [parameter for group in optimizer.param_groups for parameter in group["params"]]

    def step(gradients: list[Tensor]) -> None:
        for parameter, gradient in zip(params, gradients, strict=True):
            parameter.grad = gradient
        optimizer.step()

    return step
