"""`value_labeling annotate`: a local web page to build a Suboptimal-Value-Bench annotation table."""
