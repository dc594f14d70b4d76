"""classroom-operator's control plane: keeps engines built, validated and served per GPU class."""
