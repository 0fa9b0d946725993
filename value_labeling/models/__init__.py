"""Value models: anything that maps an episode's frames to per-frame progress in [0, 1]."""

from value_labeling.models.registry import (ValueModel, available_models, default_model_name, load_value_model,
                                            model_camera, register_value_model)

__all__ = ["ValueModel", "available_models", "default_model_name", "load_value_model", "model_camera",
           "register_value_model"]
