"""Smaller, faster models: int8 quantization, structured pruning, distillation, benchmarks."""
