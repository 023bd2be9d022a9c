"""Diamond upgrades: the planner (`ape run upgrade`), ERC-7201 storage-layout safety and the inspector (`ape keeper inspect`)."""
