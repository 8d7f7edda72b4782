"""Local stacks: `pique-engine dev` in one process, and the emulators wired together. Imports any layer."""
