// The facts most sample tests start from: a blood sample collected from subject P001.

/** What a registration of it says (the command's fields). */
export const bloodFromP001 = { sampleType: 'blood', subjectId: 'P001', collectionDate: '2026-11-01' } as const;

/** The sample as registered: collected, a primary sample (no parent). */
export const primaryBlood = { ...bloodFromP001, status: 'collected', lineage: 'primary', parentId: null } as const;
