"""The engine builder: ONNX in, validated engine out (docs/contracts.md, "The build Job")."""
