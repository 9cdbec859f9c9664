"""Composing the configs, checking what a command line asks for, and building objects from config nodes."""
