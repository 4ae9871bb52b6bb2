"""Pure functions over arrays and tensors: distances, likelihoods, errors."""
