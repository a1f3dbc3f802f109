"""The config boundary: Hydra composition, and the one parser of YAML key names."""

from optim.config.compose import CampaignConfig, build, campaign_source, compose
from optim.config.parse import located, settings_from_config

__all__ = ["CampaignConfig", "build", "campaign_source", "compose", "located",
           "settings_from_config"]
