"""Core of webcare-triage: taxonomy, model families and inference runtimes.

Every other package (training, serving, labeling) imports from here; this
package imports none of them.
"""
