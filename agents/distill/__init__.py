"""Generative distillation: a teacher's knowledge passed to a new student through recollections.

The paper's "Scalable Recollections for Distillation" (Tables 7-9, Figure 4,
Algorithm 3). Modules: `samplers` (which recollections a student trains on).
"""
