"""A small MLP action-chunk policy on state inputs, laid out as a LeRobot policy plugin.

`configuration_mlp_chunk.py` registers the config under the type name `mlp_chunk`; lerobot's factory then
finds `MLPChunkPolicy` in `modeling_mlp_chunk.py` and `make_mlp_chunk_pre_post_processors` in
`processor_mlp_chunk.py` by its plugin naming rule, so `from_pretrained`, `policy_ft serve` and
`robosuite_eval rollout` load a checkpoint once this package is imported.
"""

from policy_ft.mlp_chunk.configuration_mlp_chunk import MLPChunkConfig
from policy_ft.mlp_chunk.modeling_mlp_chunk import MLPChunkPolicy

__all__ = ["MLPChunkConfig", "MLPChunkPolicy"]
