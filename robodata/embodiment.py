"""Per-embodiment frame rates (a light module: CLI configs import it for their defaults).

Paper appendix D and table A.1: trajectories are evaluated, and WVM windows sampled, at 2 fps, at
3 fps for AgileX and ARX. Embodiments not listed use the caller's default rate.
"""

EMBODIMENT_FPS: dict[str, float] = {"AgileX": 3.0, "AgileX (sim)": 3.0, "ARX": 3.0}
