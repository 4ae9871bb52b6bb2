"""aae: Adversarial Autoencoders (Makhzani, Shlens, Jaitly, Goodfellow, Frey, 2015) from the command line."""

__version__ = "0.1.0"
