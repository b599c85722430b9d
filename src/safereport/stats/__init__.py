"""Transparency: differentially private statistics releases and the police-forces tracker."""
