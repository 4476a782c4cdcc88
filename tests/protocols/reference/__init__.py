"""The AWS wire code as it was before the compiled fast paths (verbatim but for imports): the
oracle `test_aws_fast_paths.py` compares the live modules with, byte for byte."""
