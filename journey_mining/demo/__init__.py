"""Deterministic demo data with known ground truth: Acme Analytics' trial-to-paid journey.

``generate_demo`` writes a landing folder in the shapes of data contract §1 (Segment,
Amplitude, Mixpanel, HubSpot CSV) plus ``ground_truth.json`` and
``ground_truth_persons.parquet``, so every later layer can be checked against what was planted.
"""

from journey_mining.demo.generate import CHUNK_PERSONS, DemoSummary, generate_demo
from journey_mining.demo.scenario import (
    DEFAULT_SCENARIO,
    STAGES,
    Dirt,
    Persona,
    PlantedChange,
    Profile,
    Scenario,
    SurveyMeans,
    persona_of,
)

__all__ = [
    "CHUNK_PERSONS",
    "DEFAULT_SCENARIO",
    "STAGES",
    "DemoSummary",
    "Dirt",
    "Persona",
    "PlantedChange",
    "Profile",
    "Scenario",
    "SurveyMeans",
    "generate_demo",
    "persona_of",
]
